using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Avg.Shapes;

namespace Avg.Icons;

/// <summary>How many icons go into each split, how big they are drawn, and the seed of every random choice.</summary>
public sealed record IconSetOptions
{
    /// <summary>Icons in all (0 = every icon of the catalog); a seeded sample when fewer than the catalog holds.</summary>
    public int Images { get; init; }

    public int Val { get; init; } = 250;

    public int Test { get; init; } = 500;

    /// <summary>Width and height of the PNG files in pixels.</summary>
    public int ImageSize { get; init; } = 128;

    public int Seed { get; init; } = 1;

    /// <summary>Checks the counts against a catalog of <paramref name="available"/> icons.</summary>
    public void Validate(int available)
    {
        if (Images < 0) throw new AvgException($"--images must be 0 (all) or more, got {Images}");
        if (Val < 0 || Test < 1) throw new AvgException($"--val must be 0 or more and --test at least 1, got {Val} and {Test}");
        if (ImageSize is < 16 or > 512) throw new AvgException($"--size must be 16–512 pixels, got {ImageSize}");
        var total = Images == 0 ? available : Images;
        if (total > available) throw new AvgException($"--images {Images}: the catalog has only {available} icons");
        if (Val + Test >= total) throw new AvgException($"--val {Val} and --test {Test} leave no train images of {total}");
    }
}

/// <summary>What <see cref="IconSet.Write"/> wrote.</summary>
public sealed record IconSetSummary(string OutputFolder, int Train, int Val, int Test, int Captions, long Bytes);

/// <summary>
/// An icon catalog as a retrieval dataset in the Karpathy split format: each icon drawn to <c>images/NAME.png</c>, with
/// the captions of <see cref="IconCaptions"/>, and a seeded split into train, val and test.
/// </summary>
public static class IconSet
{
    public const string DatasetFileName = "dataset.json";

    public const string ImageFolderName = "images";

    /// <summary>
    /// Writes the dataset of <paramref name="icons"/> into <paramref name="outputFolder"/> (which must be empty or absent
    /// unless <paramref name="overwrite"/>), reporting icons drawn; the same icons and options give the same files.
    /// </summary>
    public static IconSetSummary Write(IReadOnlyList<Icon> icons, string outputFolder, IconSetOptions options, string datasetName,
        bool overwrite = false, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(icons);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(icons.Count);
        PrepareFolder(outputFolder, overwrite);

        // One shuffle picks the sample and the splits: test first, then val, the rest train.
        var order = Enumerable.Range(0, icons.Count).ToArray();
        new Random(options.Seed).Shuffle(order);
        var total = options.Images == 0 ? icons.Count : options.Images;
        var split = new Dictionary<int, string>(total);
        for (var k = 0; k < total; k++) split[order[k]] = k < options.Test ? "test" : k < options.Test + options.Val ? "val" : "train";
        var chosen = split.Keys.Order().ToArray();

        long bytes = 0;
        var done = 0;
        var renderers = new ConcurrentBag<SvgPathRenderer>();
        try
        {
            Parallel.ForEach(chosen, new ParallelOptions { CancellationToken = cancellationToken }, index =>
            {
                if (!renderers.TryTake(out var renderer)) renderer = new SvgPathRenderer(options.ImageSize);
                try
                {
                    renderer.RenderFile(icons[index].SvgPath);
                    using var png = renderer.EncodePng();
                    File.WriteAllBytes(Path.Combine(outputFolder, FileName(icons[index])), png.AsSpan());
                    Interlocked.Add(ref bytes, png.Size);
                }
                finally
                {
                    renderers.Add(renderer);
                }
                progress?.Report(Interlocked.Increment(ref done));
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(x => x is DataFormatException) is DataFormatException first)
        {
            throw first;
        }
        finally
        {
            foreach (var renderer in renderers) renderer.Dispose();
        }

        var jsonPath = Path.Combine(outputFolder, DatasetFileName);
        var captions = 0;
        using (var file = new FileStream(jsonPath, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
        using (var writer = new Utf8JsonWriter(file, new JsonWriterOptions { Indented = false }))
        {
            writer.WriteStartObject();
            writer.WriteString("dataset", datasetName);
            writer.WriteStartArray("images");
            for (var imgid = 0; imgid < chosen.Length; imgid++)
            {
                var icon = icons[chosen[imgid]];
                var texts = IconCaptions.For(icon, new Random(StableHash(icon.Name) ^ (options.Seed * 31)));
                writer.WriteStartObject();
                writer.WriteString("filename", FileName(icon));
                writer.WriteNumber("imgid", imgid);
                writer.WriteString("split", split[chosen[imgid]]);
                writer.WriteStartArray("sentences");
                foreach (var raw in texts)
                {
                    writer.WriteStartObject();
                    writer.WriteString("raw", raw);
                    writer.WriteStartArray("tokens");
                    foreach (var token in CaptionTokenizer.Tokenize(raw)) writer.WriteStringValue(token);
                    writer.WriteEndArray();
                    writer.WriteNumber("imgid", imgid);
                    writer.WriteNumber("sentid", captions++);
                    writer.WriteEndObject();
                }
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        bytes += new FileInfo(jsonPath).Length;
        var counts = split.Values.CountBy(s => s).ToDictionary(p => p.Key, p => p.Value);
        return new IconSetSummary(outputFolder, counts.GetValueOrDefault("train"), counts.GetValueOrDefault("val"), counts.GetValueOrDefault("test"), captions, bytes);
    }

    /// <summary>The image's path inside the dataset folder, as the JSON names it.</summary>
    public static string FileName(Icon icon) => string.Create(CultureInfo.InvariantCulture, $"{ImageFolderName}/{icon.Name}.png");

    // FNV-1a over UTF-16 code units: string.GetHashCode differs between processes.
    private static int StableHash(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text) hash = (hash ^ c) * 16777619u;
        return (int)hash;
    }

    private static void PrepareFolder(string outputFolder, bool overwrite)
    {
        if (File.Exists(outputFolder)) throw new AvgException($"{outputFolder} is a file; --out needs a folder.");
        if (Directory.Exists(outputFolder) && Directory.EnumerateFileSystemEntries(outputFolder).Any())
        {
            if (!overwrite) throw new AvgException($"{outputFolder} already exists and is not empty; choose another --out or pass --force to overwrite it.");
            File.Delete(Path.Combine(outputFolder, DatasetFileName));
            var images = Path.Combine(outputFolder, ImageFolderName);
            if (Directory.Exists(images)) Directory.Delete(images, recursive: true);
            // Backbone features cached for the earlier images would otherwise be read for the new ones.
            var cache = Path.Combine(outputFolder, ".avg-cache");
            if (Directory.Exists(cache)) Directory.Delete(cache, recursive: true);
        }
        Directory.CreateDirectory(Path.Combine(outputFolder, ImageFolderName));
    }
}
