using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Avg.Client;
using Avg.Data;

namespace Avg.Cli;

/// <summary>`avg index`: bulk-loads a Karpathy-format dataset split into a running cluster through the client SDK.</summary>
internal static class IndexCommand
{
    /// <summary>The contract's largest ingest batch (docs/http-api.md).</summary>
    internal const int MaxBatch = 1000;

    public static Command Create(CliContext context)
    {
        var connection = new ClusterConnection();
        var data = new Option<string>("--data") { Description = "Dataset folder (with dataset.json) or Karpathy JSON file.", Required = true };
        var imageRoot = DatasetArguments.ImageRootOption();
        var split = new Option<string>("--split") { Description = "Split to index: test, val, train or all.", DefaultValueFactory = _ => "test" };
        var batch = new Option<int>("--batch") { Description = $"Images per request (1…{MaxBatch}).", DefaultValueFactory = _ => 64 };
        var parallel = new Option<int>("--parallel") { Description = "Batches in flight at once (reading files overlaps sending; the cluster spreads batches over its shards).", DefaultValueFactory = _ => 2 };
        var features = new Option<string?>("--features") { Description = "Send these precomputed image vectors (.npy float32, one row per image in JSON order) instead of the image files." };

        var command = new Command("index",
            "Send a dataset split to a running cluster (POST /v1/images, in batches) and print images/s. Each image is indexed under its " +
            "Karpathy \"imgid\" as a string (its position in the JSON when imgid is absent), with uri = its file name as written in the JSON; " +
            "re-running replaces the same ids.");
        connection.AddTo(command);
        foreach (var option in new Option[] { data, imageRoot, split, batch, parallel, features }) command.Options.Add(option);

        command.SetAction(async (parse, cancellationToken) =>
        {
            var batchSize = parse.GetValue(batch);
            if (batchSize is < 1 or > MaxBatch)
                throw new AvgException(string.Create(CultureInfo.InvariantCulture, $"--batch must be between 1 and {MaxBatch}, got {batchSize}"));
            var inFlight = parse.GetValue(parallel);
            if (inFlight is < 1 or > 64)
                throw new AvgException(string.Create(CultureInfo.InvariantCulture, $"--parallel must be between 1 and 64, got {inFlight}"));
            var client = connection.CreateClient(parse);
            var dataset = DatasetArguments.Load(parse.GetValue(data)!, parse.GetValue(imageRoot));
            var splitName = parse.GetValue(split)!;
            var images = SelectSplit(dataset, splitName);
            if (images.Count == 0) throw new AvgException($"{dataset.JsonPath}: the {splitName} split has no images");

            using var source = parse.GetValue(features) is { } path ? FeatureSource.Open(path, dataset) : null;
            if (source is null) DatasetArguments.CheckImagesExist(dataset, images);
            var clock = Stopwatch.StartNew();
            var summary = await ProgressDisplay.RunCountingAsync(context, "index", images.Count, "images",
                progress => SendAsync(client, dataset, images, batchSize, inFlight, source, connection.IndexVersion(parse), progress, cancellationToken)).ConfigureAwait(false);
            var seconds = clock.Elapsed.TotalSeconds;
            await context.Output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"indexed {summary.Images} images ({splitName} split of {dataset.Name}, {(source is null ? "image files" : "features")}) in {seconds:F1}s: " +
                $"{summary.Images / Math.Max(seconds, 1e-9):F1} images/s, {summary.Batches} batches, {summary.Partitions} partition(s), index version {summary.IndexVersion ?? "unknown"}"))
                .ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    /// <summary>What a whole run did, from the server's answers.</summary>
    internal sealed record IndexSummary(int Images, int Batches, int Partitions, string? IndexVersion);

    /// <summary>Sends the images in batches, up to <paramref name="inFlight"/> at once, reporting images done.</summary>
    internal static async Task<IndexSummary> SendAsync(AvgSearchClient client, KarpathyDataset dataset, IReadOnlyList<DatasetImage> images, int batchSize,
        int inFlight, FeatureSource? features, string? indexVersion, IProgress<int> progress, CancellationToken cancellationToken)
    {
        var done = 0;
        var batches = 0;
        var partitions = new HashSet<int>();
        string? version = null;
        var gate = new Lock();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = inFlight, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(images.Chunk(batchSize), parallel, async (chunk, token) =>
        {
            var batch = new List<ImageToIndex>(chunk.Length);
            foreach (var image in chunk)
            {
                var id = image.ImageId.ToString(CultureInfo.InvariantCulture);
                batch.Add(features is not null
                    ? ImageToIndex.FromFeatures(id, features.Row(image), image.FileName)
                    : ImageToIndex.FromImage(id, await ReadImageAsync(dataset, image, token).ConfigureAwait(false), image.FileName));
            }
            var result = await client.IndexImagesAsync(batch, indexVersion, token).ConfigureAwait(false);
            lock (gate)
            {
                foreach (var indexed in result.Indexed) partitions.Add(indexed.Partition);
                version = result.IndexVersion ?? version;
                done += chunk.Length;
                batches++;
                progress.Report(done);
            }
        }).ConfigureAwait(false);
        return new IndexSummary(done, batches, partitions.Count, version);
    }

    internal static List<DatasetImage> SelectSplit(KarpathyDataset dataset, string split) => split switch
    {
        "all" => [.. dataset.Images],
        "test" => [.. dataset.InSplit(Split.Test)],
        "val" => [.. dataset.InSplit(Split.Val)],
        "train" => [.. dataset.InSplit(Split.Train)],
        _ => throw new AvgException($"--split '{split}': expected test, val, train or all"),
    };

    /// <summary>An image file's bytes, refusing formats the server does not decode (it takes PNG and JPEG).</summary>
    private static async Task<byte[]> ReadImageAsync(KarpathyDataset dataset, DatasetImage image, CancellationToken cancellationToken)
    {
        var path = dataset.ImagePath(image);
        byte[] bytes;
        try
        {
            bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new DataFormatException(path, "image file missing (expected relative to the image root; see --image-root)", e);
        }
        catch (IOException e)
        {
            throw new DataFormatException(path, $"cannot be read: {e.Message}", e);
        }
        var isPng = bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G']);
        var isJpeg = bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]);
        if (!isPng && !isJpeg)
            throw new DataFormatException(path, "is not a PNG or JPEG file; the server decodes only those (convert it, or send --features)");
        return bytes;
    }

    /// <summary>Image feature rows read on demand, one per image in JSON order, checked finite.</summary>
    internal sealed class FeatureSource : IDisposable
    {
        private readonly NpyMatrix _matrix;

        private FeatureSource(NpyMatrix matrix) => _matrix = matrix;

        public static FeatureSource Open(string path, KarpathyDataset dataset)
        {
            var matrix = NpyMatrix.Open(path);
            try
            {
                matrix.ExpectShape(dataset.Images.Count, null, $"image in {Path.GetFileName(dataset.JsonPath)}");
                return new FeatureSource(matrix);
            }
            catch
            {
                matrix.Dispose();
                throw;
            }
        }

        private readonly Lock _gate = new();

        /// <summary>The image's row; safe to call from concurrent batches (the file has one read position).</summary>
        public float[] Row(DatasetImage image)
        {
            var row = new float[_matrix.Columns];
            lock (_gate) _matrix.ReadRows(image.Index, 1, row);
            for (var c = 0; c < row.Length; c++)
            {
                if (!float.IsFinite(row[c]))
                    throw new DataFormatException(_matrix.Path, $"row {image.Index} column {c} is {row[c]}; expected finite values");
            }
            return row;
        }

        public void Dispose() => _matrix.Dispose();
    }
}
