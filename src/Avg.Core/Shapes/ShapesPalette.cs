using SkiaSharp;

namespace Avg.Shapes;

/// <summary>The RGB values behind colour and background names, and which colours stand out on which background.</summary>
public static class ShapesPalette
{
    /// <summary>Smallest RGB distance between an object's colour and any colour its background can show.</summary>
    public const double MinimumContrast = 110;

    /// <summary>How far a noise background's pixels stray from its base grey, per channel.</summary>
    public const int NoiseAmplitude = 28;

    private static readonly SKColor[] ObjectColours =
    [
        new(220, 30, 30),   // red
        new(30, 170, 60),   // green
        new(40, 80, 230),   // blue
        new(245, 220, 30),  // yellow
        new(250, 135, 20),  // orange
        new(140, 50, 185),  // purple
        new(250, 125, 195), // pink
        new(30, 215, 225),  // cyan
        new(125, 75, 30),   // brown
        new(248, 248, 248), // white
    ];

    /// <summary>Plain dark, light and grey backgrounds; the gradient's two ends; the noise's base grey.</summary>
    public static readonly SKColor Dark = new(22, 22, 28);
    public static readonly SKColor Light = new(232, 230, 222);
    public static readonly SKColor Gray = new(128, 128, 128);
    public static readonly SKColor GradientTop = new(20, 30, 70);
    public static readonly SKColor GradientBottom = new(95, 110, 150);
    public static readonly SKColor NoiseBase = new(70, 70, 70);

    public static SKColor Rgb(ObjectColour colour) => ObjectColours[(int)colour];

    /// <summary>Colours an object may have on this background: every one far enough from all the background's colours.</summary>
    public static IReadOnlyList<ObjectColour> Contrasting(Background background) => ContrastingColours[(int)background];

    private static readonly ObjectColour[][] ContrastingColours =
        [.. Enum.GetValues<Background>().Select(b => Enum.GetValues<ObjectColour>().Where(c => Contrasts(c, b)).ToArray())];

    private static bool Contrasts(ObjectColour colour, Background background) => background switch
    {
        Background.Dark => Distance(Rgb(colour), Dark) >= MinimumContrast,
        Background.Light => Distance(Rgb(colour), Light) >= MinimumContrast,
        Background.Gray => Distance(Rgb(colour), Gray) >= MinimumContrast,
        Background.Gradient => Distance(Rgb(colour), GradientTop) >= MinimumContrast && Distance(Rgb(colour), GradientBottom) >= MinimumContrast,
        _ => Distance(Rgb(colour), NoiseBase) >= MinimumContrast + (NoiseAmplitude * Math.Sqrt(3)),
    };

    private static double Distance(SKColor a, SKColor b)
    {
        double dr = a.Red - b.Red, dg = a.Green - b.Green, db = a.Blue - b.Blue;
        return Math.Sqrt((dr * dr) + (dg * dg) + (db * db));
    }
}
