using SkiaSharp;

namespace Avg.Shapes;

/// <summary>
/// Draws scenes into one reusable bitmap and encodes it as PNG. Not thread-safe: give each worker its own,
/// so rendering allocates nothing per image but the encoded bytes.
/// </summary>
internal sealed class ShapesRenderer : IDisposable
{
    // Default zlib level: at 64×64 the higher levels save a few percent for twice the time.
    private static readonly SKPngEncoderOptions PngOptions = new(SKPngEncoderFilterFlags.AllFilters, zLibLevel: 6);

    private readonly SKBitmap _bitmap;
    private readonly SKCanvas _canvas;
    private readonly SKPaint _fill = new() { IsAntialias = true, Style = SKPaintStyle.Fill };
    private readonly SKPaint _gradient = new() { Style = SKPaintStyle.Fill };
    private readonly SKShader _gradientShader;
    private readonly byte[] _noise;

    public ShapesRenderer(int imageSize)
    {
        _bitmap = new SKBitmap(new SKImageInfo(imageSize, imageSize, SKColorType.Rgba8888, SKAlphaType.Opaque));
        _canvas = new SKCanvas(_bitmap);
        _gradientShader = SKShader.CreateLinearGradient(
            new SKPoint(0, 0), new SKPoint(0, imageSize), [ShapesPalette.GradientTop, ShapesPalette.GradientBottom], SKShaderTileMode.Clamp);
        _gradient.Shader = _gradientShader;
        _noise = new byte[imageSize * imageSize];
    }

    /// <summary>The last rendered image, RGBA rows top to bottom.</summary>
    public ReadOnlySpan<byte> Pixels => _bitmap.GetPixelSpan();

    /// <summary>Draws the scene; <paramref name="texture"/> supplies the noise background's grain.</summary>
    public void Render(ShapesScene scene, Random texture)
    {
        switch (scene.Background)
        {
            case Background.Dark:
                _canvas.Clear(ShapesPalette.Dark);
                break;
            case Background.Light:
                _canvas.Clear(ShapesPalette.Light);
                break;
            case Background.Gray:
                _canvas.Clear(ShapesPalette.Gray);
                break;
            case Background.Gradient:
                _canvas.DrawRect(0, 0, _bitmap.Width, _bitmap.Height, _gradient);
                break;
            default:
                _canvas.Flush();
                FillNoise(texture);
                break;
        }

        foreach (var o in scene.Objects)
        {
            _fill.Color = ShapesPalette.Rgb(o.Colour);
            using var outline = ShapeGeometry.Outline(o);
            _canvas.DrawPath(outline, _fill);
        }

        _canvas.Flush();
    }

    /// <summary>The last rendered image as PNG bytes; the caller disposes them.</summary>
    public SKData EncodePng()
    {
        using var pixmap = _bitmap.PeekPixels();
        return pixmap.Encode(PngOptions) ?? throw new InvalidOperationException("SkiaSharp could not encode the image as PNG.");
    }

    public void Dispose()
    {
        _canvas.Dispose();
        _gradient.Dispose();
        _gradientShader.Dispose();
        _fill.Dispose();
        _bitmap.Dispose();
    }

    private void FillNoise(Random texture)
    {
        texture.NextBytes(_noise);
        var pixels = _bitmap.GetPixelSpan();
        const int spread = (2 * ShapesPalette.NoiseAmplitude) + 1;
        for (var i = 0; i < _noise.Length; i++)
        {
            var grain = (_noise[i] % spread) - ShapesPalette.NoiseAmplitude;
            var p = pixels.Slice(i * 4, 4);
            p[0] = (byte)(ShapesPalette.NoiseBase.Red + grain);
            p[1] = (byte)(ShapesPalette.NoiseBase.Green + grain);
            p[2] = (byte)(ShapesPalette.NoiseBase.Blue + grain);
            p[3] = byte.MaxValue;
        }

        _bitmap.NotifyPixelsChanged();
    }
}
