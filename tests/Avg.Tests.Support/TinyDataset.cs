using System.Text.Json;
using Avg.Data;
using SkiaSharp;

namespace Avg.Tests.Support;

/// <summary>Writes a small Karpathy-format dataset (solid-colour PNGs, two captions each) for data-format tests.</summary>
public static class TinyDataset
{
    public static readonly (string Name, SKColor Color)[] Colours =
    [
        ("red", SKColors.Red), ("green", SKColors.Green), ("blue", SKColors.Blue), ("yellow", SKColors.Yellow),
    ];

    /// <summary>Writes dataset.json and images/; splits cycle train, train, val, test.</summary>
    public static string Write(string folder, int images = 4, int size = 16)
    {
        Directory.CreateDirectory(Path.Combine(folder, "images"));
        string[] splits = ["train", "train", "val", "test"];
        var entries = new List<object>();
        for (var i = 0; i < images; i++)
        {
            var (name, colour) = Colours[i % Colours.Length];
            var file = $"images/{i:D3}.png";
            WritePng(Path.Combine(folder, file), colour, size);
            entries.Add(new
            {
                filename = file,
                imgid = i,
                split = splits[i % splits.Length],
                sentences = new[] { new { raw = $"a {name} square" }, new { raw = $"{name} picture" } },
            });
        }
        var json = Path.Combine(folder, KarpathyReader.DefaultFileName);
        File.WriteAllText(json, JsonSerializer.Serialize(new { dataset = "tiny", images = entries }));
        return json;
    }

    public static void WritePng(string path, SKColor colour, int size)
    {
        using var bitmap = new SKBitmap(size, size);
        bitmap.Erase(colour);
        using var image = SKImage.FromBitmap(bitmap);
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, png.ToArray());
    }
}
