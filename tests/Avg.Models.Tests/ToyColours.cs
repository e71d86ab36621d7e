using Avg.Models.Encoders;
using Avg.Models.Text;

namespace Avg.Models.Tests;

/// <summary>32 solid-colour images (8 hues × 4 shades) with 5 captions each that name the colour.</summary>
internal static class ToyColours
{
    public const int Size = 16;

    private static readonly string[] Hues = ["red", "orange", "yellow", "green", "teal", "blue", "purple", "pink"];
    private static readonly (string Name, double Saturation, double Value)[] Shades =
        [("bright", 1.0, 1.0), ("pale", 0.35, 1.0), ("dark", 1.0, 0.45), ("dull", 0.45, 0.6)];
    private static readonly string[] Templates = ["a {0} picture", "{0}", "the colour {0}", "a square of {0}", "plain {0} image"];

    public static int Count => Hues.Length * Shades.Length;

    public static ImageData Images()
    {
        var pixels = new byte[Count * 3 * Size * Size];
        for (var i = 0; i < Count; i++)
        {
            var (r, g, b) = Rgb(360.0 * (i / Shades.Length) / Hues.Length, Shades[i % Shades.Length].Saturation, Shades[i % Shades.Length].Value);
            var channels = new[] { r, g, b };
            for (var c = 0; c < 3; c++)
                pixels.AsSpan((i * 3 + c) * Size * Size, Size * Size).Fill(channels[c]);
        }
        return ImageData.FromBytes(pixels, Count, Size, Size);
    }

    public static (List<string> Texts, int[] ImageOf) Captions()
    {
        var texts = new List<string>();
        var imageOf = new List<int>();
        for (var i = 0; i < Count; i++)
        {
            var name = $"{Shades[i % Shades.Length].Name} {Hues[i / Shades.Length]}";
            foreach (var template in Templates)
            {
                texts.Add(string.Format(System.Globalization.CultureInfo.InvariantCulture, template, name));
                imageOf.Add(i);
            }
        }
        return (texts, imageOf.ToArray());
    }

    public static (TextVocabulary Vocabulary, CaptionData Captions) Encoded(int maxLength = 8)
    {
        var (texts, imageOf) = Captions();
        var vocabulary = TextVocabulary.Build(texts, new TextVocabularyOptions { MinCount = 1, MaxLength = maxLength });
        return (vocabulary, new CaptionData(vocabulary.EncodeMany(texts), maxLength, imageOf));
    }

    private static (byte, byte, byte) Rgb(double hue, double saturation, double value)
    {
        var c = value * saturation;
        var x = c * (1 - Math.Abs(hue / 60 % 2 - 1));
        var m = value - c;
        var (r, g, b) = (hue / 60) switch
        {
            < 1 => (c, x, 0.0),
            < 2 => (x, c, 0.0),
            < 3 => (0.0, c, x),
            < 4 => (0.0, x, c),
            < 5 => (x, 0.0, c),
            _ => (c, 0.0, x),
        };
        return (ToByte(r + m), ToByte(g + m), ToByte(b + m));
    }

    private static byte ToByte(double v) => (byte)Math.Round(Math.Clamp(v, 0, 1) * 255);
}
