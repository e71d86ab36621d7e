using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using SkiaSharp;

namespace Avg.Icons;

/// <summary>
/// Draws icons whose SVG is made of <c>&lt;path&gt;</c> elements only (the outline icons of <c>@tabler/icons</c>), black
/// on white, into one reusable square bitmap, and encodes it as PNG. Root attributes (<c>viewBox</c>, <c>fill</c>,
/// <c>stroke</c>, <c>stroke-width</c>, <c>stroke-linecap</c>, <c>stroke-linejoin</c>) are inherited by each path, which
/// may override them; <c>currentColor</c> is black. Other elements are refused with the file named. Not thread-safe:
/// one renderer per worker.
/// </summary>
public sealed class SvgPathRenderer : IDisposable
{
    private static readonly SKPngEncoderOptions PngOptions = new(SKPngEncoderFilterFlags.AllFilters, zLibLevel: 6);
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private readonly SKBitmap _bitmap;
    private readonly SKCanvas _canvas;
    private readonly SKPaint _paint = new() { IsAntialias = true };

    public SvgPathRenderer(int size)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 8);
        Size = size;
        _bitmap = new SKBitmap(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Opaque));
        _canvas = new SKCanvas(_bitmap);
    }

    /// <summary>Width and height of the drawn image in pixels.</summary>
    public int Size { get; }

    /// <summary>The last drawn image, RGBA rows top to bottom.</summary>
    public ReadOnlySpan<byte> Pixels => _bitmap.GetPixelSpan();

    /// <summary>Draws the SVG file at <paramref name="path"/>; throws <see cref="DataFormatException"/> naming it when it cannot.</summary>
    public void RenderFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataFormatException(path, $"cannot be read: {e.Message}", e);
        }
        Render(text, path);
    }

    /// <summary>Draws SVG text; <paramref name="source"/> names it in errors.</summary>
    public void Render(string svgText, string source)
    {
        XElement root;
        try
        {
            root = XElement.Parse(svgText);
        }
        catch (XmlException e)
        {
            throw new DataFormatException(source, $"not well-formed SVG: {e.Message}", e);
        }
        if (root.Name != Svg + "svg" && root.Name.LocalName != "svg")
            throw new DataFormatException(source, $"expected an <svg> root element, found <{root.Name.LocalName}>");
        var (minX, minY, width, height) = ViewBox(root, source);

        _canvas.ResetMatrix();
        _canvas.Clear(SKColors.White);
        var scale = Size / Math.Max(width, height);
        _canvas.Scale(scale);
        _canvas.Translate(-minX, -minY);
        var inherited = Style.From(root, Style.Root, source);
        foreach (var element in root.Elements())
        {
            if (element.Name.LocalName != "path")
                throw new DataFormatException(source, $"has a <{element.Name.LocalName}> element; only <path> elements are drawn (the outline icons of @tabler/icons)");
            var data = (string?)element.Attribute("d");
            if (string.IsNullOrWhiteSpace(data)) continue;
            using var shape = SKPath.ParseSvgPathData(data)
                ?? throw new DataFormatException(source, $"path data \"{Clip(data)}\" cannot be parsed");
            var style = Style.From(element, inherited, source);
            if (style.Fill is { } fill)
            {
                _paint.Style = SKPaintStyle.Fill;
                _paint.Color = fill.WithAlpha((byte)(fill.Alpha * style.Opacity));
                _canvas.DrawPath(shape, _paint);
            }
            if (style.Stroke is { } stroke && style.StrokeWidth > 0)
            {
                _paint.Style = SKPaintStyle.Stroke;
                _paint.Color = stroke.WithAlpha((byte)(stroke.Alpha * style.Opacity));
                _paint.StrokeWidth = style.StrokeWidth;
                _paint.StrokeCap = style.Cap;
                _paint.StrokeJoin = style.Join;
                _canvas.DrawPath(shape, _paint);
            }
        }
        _canvas.Flush();
    }

    /// <summary>The last drawn image as PNG bytes; the caller disposes them.</summary>
    public SKData EncodePng()
    {
        using var pixmap = _bitmap.PeekPixels();
        return pixmap.Encode(PngOptions) ?? throw new InvalidOperationException("SkiaSharp could not encode the image as PNG.");
    }

    public void Dispose()
    {
        _paint.Dispose();
        _canvas.Dispose();
        _bitmap.Dispose();
    }

    private static (float MinX, float MinY, float Width, float Height) ViewBox(XElement root, string source)
    {
        var text = (string?)root.Attribute("viewBox");
        if (text is null)
        {
            var w = Number((string?)root.Attribute("width") ?? "24", "width", source);
            var h = Number((string?)root.Attribute("height") ?? "24", "height", source);
            return (0, 0, w, h);
        }
        var parts = text.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 4) throw new DataFormatException(source, $"viewBox \"{text}\" is not four numbers");
        var box = parts.Select(p => Number(p, "viewBox", source)).ToArray();
        if (box[2] <= 0 || box[3] <= 0) throw new DataFormatException(source, $"viewBox \"{text}\" has no area");
        return (box[0], box[1], box[2], box[3]);
    }

    private static float Number(string text, string what, string source) =>
        float.TryParse(text.Trim().TrimEnd('p', 'x'), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && float.IsFinite(value)
            ? value
            : throw new DataFormatException(source, $"{what} \"{text}\" is not a number");

    private static string Clip(string text) => text.Length <= 40 ? text : text[..40] + "…";

    /// <summary>The presentation attributes a path is drawn with; null paint = none.</summary>
    private sealed record Style(SKColor? Fill, SKColor? Stroke, float StrokeWidth, SKStrokeCap Cap, SKStrokeJoin Join, float Opacity)
    {
        /// <summary>SVG's initial values: black fill, no stroke, width 1, butt caps, miter joins.</summary>
        public static readonly Style Root = new(SKColors.Black, null, 1, SKStrokeCap.Butt, SKStrokeJoin.Miter, 1);

        public static Style From(XElement element, Style parent, string source) => new(
            Paint((string?)element.Attribute("fill"), parent.Fill, source),
            Paint((string?)element.Attribute("stroke"), parent.Stroke, source),
            (string?)element.Attribute("stroke-width") is { } w ? Number(w, "stroke-width", source) : parent.StrokeWidth,
            (string?)element.Attribute("stroke-linecap") switch { "round" => SKStrokeCap.Round, "square" => SKStrokeCap.Square, "butt" => SKStrokeCap.Butt, _ => parent.Cap },
            (string?)element.Attribute("stroke-linejoin") switch { "round" => SKStrokeJoin.Round, "bevel" => SKStrokeJoin.Bevel, "miter" => SKStrokeJoin.Miter, _ => parent.Join },
            parent.Opacity * ((string?)element.Attribute("opacity") is { } o ? Math.Clamp(Number(o, "opacity", source), 0, 1) : 1));

        private static SKColor? Paint(string? value, SKColor? inherited, string source) => value?.Trim() switch
        {
            null => inherited,
            "none" => null,
            "currentColor" => SKColors.Black,
            var colour when SKColor.TryParse(colour, out var parsed) => parsed,
            var colour => throw new DataFormatException(source, $"paint \"{colour}\" is not none, currentColor or a #rgb colour"),
        };
    }
}
