using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Avg.Data;

namespace Avg.Shapes;

/// <summary>
/// The built-in Shapes-world dataset: rendered scenes of one to three objects with five captions each, written in
/// the Karpathy split format (<c>dataset.json</c> plus <c>images/*.png</c>). Every image, caption and byte derives
/// from (seed, image index) alone, so the same options give byte-identical output on any number of threads.
/// </summary>
public sealed class ShapesWorld
{
    /// <summary>Name of the dataset JSON inside the output folder; image file names are relative to that folder.</summary>
    public const string DatasetFileName = "dataset.json";

    public const string ImageFolderName = "images";

    public const int CaptionsPerImage = CaptionWriter.CaptionsPerImage;

    // Images per work item: large enough to amortise scheduling, small enough for smooth progress on 2 cores.
    private const int ChunkSize = 64;

    // Flush the JSON writer's buffer to the file past this many bytes, so memory stays flat however large the dataset.
    private const int JsonFlushBytes = 1 << 16;

    private enum RandomStream
    {
        Scene,
        Captions,
        Texture,
    }

    private readonly int _fileNameDigits;

    public ShapesWorld(ShapesWorldOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _fileNameDigits = Math.Max(6, (options.Total - 1).ToString(CultureInfo.InvariantCulture).Length);
    }

    public ShapesWorldOptions Options { get; }

    /// <summary>Train images come first, then val, then test.</summary>
    public Split SplitOf(int index) => index < Options.Train ? Split.Train : index < Options.Train + Options.Val ? Split.Val : Split.Test;

    /// <summary>Path of an image relative to the output folder, as written in the JSON.</summary>
    public string FileName(int index) => string.Create(CultureInfo.InvariantCulture, $"{ImageFolderName}/{index.ToString(new string('0', _fileNameDigits), CultureInfo.InvariantCulture)}.png");

    /// <summary>The ground truth of one image.</summary>
    public ShapesScene Scene(int index) => SceneSampler.Sample(index, Options.ImageSize, RandomFor(index, RandomStream.Scene));

    /// <summary>The five captions of a scene, in the order the JSON lists them.</summary>
    public IReadOnlyList<string> Captions(ShapesScene scene)
    {
        ArgumentNullException.ThrowIfNull(scene);
        return CaptionWriter.Write(scene, RandomFor(scene.Index, RandomStream.Captions));
    }

    /// <summary>
    /// Writes the dataset into <paramref name="outputFolder"/>, rendering on all cores while the JSON is streamed
    /// in image order. Refuses a non-empty folder unless <paramref name="overwrite"/>, which first removes an
    /// earlier dataset's JSON and image folder so no stale files remain.
    /// </summary>
    public ShapesSummary Generate(string outputFolder, bool overwrite = false, IProgress<ShapesProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(outputFolder);
        var clock = Stopwatch.StartNew();
        PrepareFolder(outputFolder, overwrite);

        var total = Options.Total;
        // If rendering fails, the JSON writer must stop too rather than run on unobserved.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var json = Task.Run(() => WriteJson(Path.Combine(outputFolder, DatasetFileName), stop.Token), stop.Token);

        long imageBytes = 0;
        var done = 0;
        progress?.Report(new ShapesProgress(0, total));
        var parallel = new ParallelOptions { CancellationToken = stop.Token };
        try
        {
            Parallel.ForEach(
                Partitioner.Create(0, total, ChunkSize),
                parallel,
                () => new ShapesRenderer(Options.ImageSize),
                (range, _, renderer) =>
                {
                    long bytes = 0;
                    for (var i = range.Item1; i < range.Item2; i++)
                    {
                        renderer.Render(Scene(i), RandomFor(i, RandomStream.Texture));
                        using var png = renderer.EncodePng();
                        File.WriteAllBytes(Path.Combine(outputFolder, FileName(i)), png.AsSpan());
                        bytes += png.Size;
                    }

                    Interlocked.Add(ref imageBytes, bytes);
                    progress?.Report(new ShapesProgress(Interlocked.Add(ref done, range.Item2 - range.Item1), total));
                    return renderer;
                },
                renderer => renderer.Dispose());
        }
        catch
        {
            stop.Cancel();
            try
            {
                json.Wait(CancellationToken.None);
            }
            catch (AggregateException)
            {
                // The rendering failure is the one to report; the writer only stopped because of it.
            }

            throw;
        }

        var captions = json.GetAwaiter().GetResult();
        return new ShapesSummary(
            outputFolder,
            [Options.Train, Options.Val, Options.Test],
            captions.Count,
            captions.DistinctWords,
            captions.Count == 0 ? 0 : (double)captions.Tokens / captions.Count,
            captions.JsonBytes + imageBytes,
            clock.Elapsed);
    }

    private sealed record CaptionStats(int Count, long Tokens, int DistinctWords, long JsonBytes);

    private CaptionStats WriteJson(string path, CancellationToken cancellationToken)
    {
        var words = new HashSet<string>(StringComparer.Ordinal);
        long tokens = 0;
        var sentence = 0;
        using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
        using (var writer = new Utf8JsonWriter(file))
        {
            writer.WriteStartObject();
            writer.WriteString("dataset", "shapes");
            writer.WriteStartArray("images");
            for (var i = 0; i < Options.Total; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var captions = Captions(Scene(i));
                writer.WriteStartObject();
                writer.WriteString("filename", FileName(i));
                writer.WriteNumber("imgid", i);
                writer.WriteString("split", SplitName(SplitOf(i)));
                writer.WriteStartArray("sentids");
                for (var k = 0; k < captions.Count; k++)
                {
                    writer.WriteNumberValue(sentence + k);
                }

                writer.WriteEndArray();
                writer.WriteStartArray("sentences");
                foreach (var raw in captions)
                {
                    var sentenceTokens = CaptionTokenizer.Tokenize(raw);
                    tokens += sentenceTokens.Count;
                    writer.WriteStartObject();
                    writer.WriteString("raw", raw);
                    writer.WriteStartArray("tokens");
                    foreach (var token in sentenceTokens)
                    {
                        words.Add(token);
                        writer.WriteStringValue(token);
                    }

                    writer.WriteEndArray();
                    writer.WriteNumber("imgid", i);
                    writer.WriteNumber("sentid", sentence++);
                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
                writer.WriteEndObject();
                if (writer.BytesPending > JsonFlushBytes)
                {
                    writer.Flush();
                }
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return new CaptionStats(sentence, tokens, words.Count, new FileInfo(path).Length);
    }

    private static string SplitName(Split split) => split switch
    {
        Split.Train => "train",
        Split.Val => "val",
        _ => "test",
    };

    private static void PrepareFolder(string outputFolder, bool overwrite)
    {
        if (File.Exists(outputFolder))
        {
            throw new AvgException($"{outputFolder} is a file; --out needs a folder.");
        }

        if (Directory.Exists(outputFolder) && Directory.EnumerateFileSystemEntries(outputFolder).Any())
        {
            if (!overwrite)
            {
                throw new AvgException($"{outputFolder} already exists and is not empty; choose another --out or pass --force to overwrite it.");
            }

            File.Delete(Path.Combine(outputFolder, DatasetFileName));
            var images = Path.Combine(outputFolder, ImageFolderName);
            if (Directory.Exists(images))
            {
                Directory.Delete(images, recursive: true);
            }
        }

        Directory.CreateDirectory(Path.Combine(outputFolder, ImageFolderName));
    }

    private Random RandomFor(int index, RandomStream stream) => new(SeedFor(Options.Seed, index, (int)stream));

    // SplitMix64 finaliser over (seed, index, stream): nearby indices get unrelated System.Random seeds.
    private static int SeedFor(int seed, int index, int stream)
    {
        var z = (((ulong)(uint)seed << 32) | (uint)index) + ((ulong)(stream + 1) * 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(z & int.MaxValue);
    }
}
