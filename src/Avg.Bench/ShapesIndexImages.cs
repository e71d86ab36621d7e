using System.Diagnostics;
using System.Globalization;
using Avg.Data;
using Avg.Models.Encoders;
using Avg.Models.Pipeline;
using Avg.Shapes;

namespace Avg.Bench;

/// <summary>
/// The images a benchmark indexes: Shapes-world scenes of one seed, generated once into the cache folder and
/// encoded by the bundle's image encoder. Image i is the same for every size, so an index of n images is the
/// first n rows of the largest one.
/// </summary>
public sealed class ShapesIndexImages
{
    // Images decoded and encoded per round: large enough for the encoder's batches, small enough for steady progress.
    private const int EncodeChunk = 4096;

    private const string CountFileName = "images.count";

    private readonly ShapesWorld _world;
    private readonly string _folder;

    private ShapesIndexImages(ShapesWorld world, string folder)
    {
        _world = world;
        _folder = folder;
    }

    /// <summary>Images in the set.</summary>
    public int Count => _world.Options.Total;

    /// <summary>Seconds spent rendering images in this run (0 when they came from the cache).</summary>
    public double GenerateSeconds { get; private set; }

    /// <summary>Makes sure the first <paramref name="count"/> images of the seed's world exist under the cache folder.</summary>
    public static ShapesIndexImages Ensure(string cache, int seed, int imageSize, int count, TextWriter log)
    {
        var folder = Path.GetFullPath(Path.Combine(cache, Invariant($"shapes-s{seed}-{imageSize}px")));
        var countFile = Path.Combine(folder, CountFileName);
        var have = File.Exists(countFile) && int.TryParse(File.ReadAllText(countFile), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;
        // The file name width depends on the total, so a set is reused only when it was written with the same width.
        if (have >= count && FileNameWidth(have) == FileNameWidth(count))
        {
            log.WriteLine(Invariant($"reusing {have} Shapes images in {folder}"));
            return new ShapesIndexImages(World(seed, imageSize, have), folder);
        }

        var world = World(seed, imageSize, count);
        var clock = Stopwatch.StartNew();
        var last = Stopwatch.StartNew();
        var progress = new Progress<ShapesProgress>(p =>
        {
            if (last.Elapsed.TotalSeconds < 2 && p.Done < p.Total) return;
            last.Restart();
            log.WriteLine(Invariant($"generate {p.Done}/{p.Total} images ({p.Done / Math.Max(clock.Elapsed.TotalSeconds, 1e-3):F0} images/s)"));
        });
        Directory.CreateDirectory(folder); // a first run: File.Delete below needs the folder to exist
        File.Delete(countFile);
        world.Generate(folder, overwrite: true, progress);
        File.WriteAllText(countFile, count.ToString(CultureInfo.InvariantCulture));
        log.WriteLine(Invariant($"generated {count} Shapes images in {clock.Elapsed.TotalSeconds:F1}s ({count / clock.Elapsed.TotalSeconds:F0} images/s)"));
        return new ShapesIndexImages(world, folder) { GenerateSeconds = clock.Elapsed.TotalSeconds };
    }

    /// <summary>Caption <paramref name="caption"/> (0–4) of image <paramref name="image"/>: a real query that should find it.</summary>
    public string Caption(int image, int caption) => _world.Captions(_world.Scene(image))[caption];

    /// <summary>
    /// v_i of the first <paramref name="count"/> images (rows, L2-normalised) by the bundle's encoder, read from the
    /// cache when this encoder already encoded them. Reports images/s on <paramref name="log"/>.
    /// </summary>
    public float[] Encode(AvgModel model, int count, TextWriter log, out double imagesPerSecond)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (count > Count) throw new ArgumentOutOfRangeException(nameof(count), count, Invariant($"only {Count} images were generated"));
        var width = model.Encoder?.Options.EmbeddingDim ?? model.Pretrained?.Heads.Options.EmbeddingDim
            ?? throw new AvgException($"{model.Bundle.Directory} has no image encoder (trained on precomputed features); the query benchmark needs one to index Shapes images");
        // The pretrained encoder's backbones are pinned by the bundle (AvgModel.Load checks their hashes), so its heads name it.
        var encoderHash = model.Bundle.Manifest.Files?.GetValueOrDefault(model.Pretrained is null ? BundleFiles.Encoder : BundleFiles.Heads) ?? "unknown";
        var prefix = Invariant($"vectors-{Short(encoderHash)}-");
        imagesPerSecond = 0;
        if (FindCachedVectors(prefix, count) is { } reusable)
        {
            log.WriteLine($"reusing encoded image vectors {reusable}");
            using var matrix = NpyMatrix.Open(reusable);
            matrix.ExpectShape(null, width, "images");
            var prefixRows = new float[(long)count * width];
            matrix.ReadRows(0, count, prefixRows);
            return prefixRows;
        }

        var size = model.Config.ImageSize;
        var bytesPerImage = ImageDecoder.BytesPerImage(size);
        var vectors = new float[(long)count * width];
        var pixels = new byte[EncodeChunk * bytesPerImage];
        var clock = Stopwatch.StartNew();
        for (var start = 0; start < count; start += EncodeChunk)
        {
            var rows = Math.Min(EncodeChunk, count - start);
            var first = start;
            Parallel.For(0, rows, i => ImageDecoder.DecodeFile(
                Path.Combine(_folder, _world.FileName(first + i)), size, pixels.AsSpan(i * bytesPerImage, bytesPerImage)));
            var chunk = model.EncodeImages(ImageData.FromBytes(pixels[..(rows * bytesPerImage)], rows, size, size));
            chunk.CopyTo(vectors, (long)start * width);
            log.WriteLine(Invariant($"encode {start + rows}/{count} images ({(start + rows) / clock.Elapsed.TotalSeconds:F0} images/s)"));
        }

        imagesPerSecond = count / clock.Elapsed.TotalSeconds;
        NpyMatrix.Write(Path.Combine(_folder, Invariant($"{prefix}{count}.npy")), vectors, count, width);
        return vectors;
    }

    /// <summary>The smallest cached vector file of this encoder with at least <paramref name="count"/> rows.</summary>
    private string? FindCachedVectors(string prefix, int count) =>
        Directory.EnumerateFiles(_folder, prefix + "*.npy")
            .Select(path => (Path: path, Rows: int.TryParse(Path.GetFileNameWithoutExtension(path)[prefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var rows) ? rows : 0))
            .Where(file => file.Rows >= count)
            .OrderBy(file => file.Rows)
            .Select(file => file.Path)
            .FirstOrDefault();

    private static ShapesWorld World(int seed, int imageSize, int count) =>
        new(new ShapesWorldOptions { Train = count, Val = 0, Test = 0, Seed = seed, ImageSize = imageSize });

    private static int FileNameWidth(int total) => Math.Max(6, (total - 1).ToString(CultureInfo.InvariantCulture).Length);

    private static string Short(string hash) => hash.Length > 12 ? hash[..12] : hash;

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
