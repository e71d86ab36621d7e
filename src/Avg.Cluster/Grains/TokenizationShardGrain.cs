using System.Diagnostics;
using System.Globalization;
using Avg.Cluster.Model;
using Avg.Cluster.Placement;
using Avg.Cluster.Telemetry;
using Avg.Data;

namespace Avg.Cluster.Grains;

/// <summary>
/// One ingest shard (key: shard number), on a model silo: decodes its batches' image files and runs encoder + quantizer
/// on the silo's model host (<see cref="Tokenize"/>), then records each image in the directory and routes (id, vokens)
/// to the partition of the first voken, removing an image that moved from its old partition (<see cref="Write"/>).
/// Counts images and busy time for images/s.
/// </summary>
[ModelSiloPlacementFilter]
public sealed class TokenizationShardGrain(IModelHost host, IngestFanOut fanOut, LowPriorityWork lowPriority, AvgMetrics metrics) : Grain, ITokenizationShardGrain
{
    private long _images;
    private double _busySeconds;

    public async Task<IndexedImage[]> Ingest(IngestItem[] items, CancellationToken cancellationToken = default)
    {
        // A caller that goes away cancels the rest of the batch (sending it again completes it). The meter's ingest and
        // cancellation counts are kept at the grain boundary (Telemetry/GrainCallMetrics).
        var tokenized = await Tokenize(items, cancellationToken);
        IngestRules.Enforce(tokenized.Problems);
        // Tokenize's own output: its identifiers' shape needs no second check.
        await WriteAsync(tokenized.Images, await host.Ready, cancellationToken);
        return tokenized.Images;
    }

    public async Task<TokenizedBatch> Tokenize(IngestItem[] items, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        var clock = Stopwatch.StartNew();
        try
        {
            var info = await host.Ready;
            if (IngestRules.Problems(items, info) is { Count: > 0 } problems)
            {
                return new TokenizedBatch { Problems = problems };
            }

            // Decoding is linear in the batch and CPU-bound: on the silo's low-priority thread, like the rest of ingest's
            // CPU work, and for every image before any model work, so one bad file refuses the batch whole.
            // Batches of features or pixels have nothing to decode and do not queue behind that thread's other work.
            var decoded = items;
            if (items.Any(item => item.Image is not null))
            {
                (decoded, var decodeProblems) = await lowPriority.RunAsync(() => Decode(items, info.ImageSize));
                if (decodeProblems.Count > 0)
                {
                    return new TokenizedBatch { Problems = decodeProblems };
                }
            }

            return new TokenizedBatch { Images = await TokenizeAsync(decoded, info, cancellationToken) };
        }
        finally
        {
            _busySeconds += clock.Elapsed.TotalSeconds;
        }
    }

    public async Task Write(IndexedImage[] images, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        var info = await host.Ready;
        IngestRules.Enforce(IngestRules.Problems(images, info));
        await WriteAsync(images, info, cancellationToken);
    }

    private async Task WriteAsync(IndexedImage[] images, BundleInfo info, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            await new IngestBatchWriter(GrainFactory, fanOut).WriteAsync(images, info.IndexVersion, info.CodebookSize, cancellationToken);
            _images += images.Length;
        }
        finally
        {
            _busySeconds += clock.Elapsed.TotalSeconds;
        }
    }

    public Task<ShardStats> GetStats() => Task.FromResult(new ShardStats
    {
        Shard = (int)this.GetPrimaryKeyLong(),
        Images = _images,
        BusySeconds = _busySeconds,
        RecentImagesPerSecond = metrics.ShardRate((int)this.GetPrimaryKeyLong()),
        History = metrics.ShardHistory((int)this.GetPrimaryKeyLong()),
        Silo = RuntimeIdentity,
    });

    /// <summary>The items with every image file decoded to pixels at the bundle's size, or what is wrong with each file that is not an image.</summary>
    private static (IngestItem[] Items, Dictionary<string, string[]> Problems) Decode(IngestItem[] items, int size)
    {
        var problems = new Dictionary<string, string[]>(); // the default comparer (ordinal): it crosses silos
        var decoded = new IngestItem[items.Length];
        for (var i = 0; i < items.Length; i++)
        {
            var item = items[i];
            if (item.Image is not { } file)
            {
                decoded[i] = item;
                continue;
            }

            var pixels = new byte[ImageDecoder.BytesPerImage(size)];
            try
            {
                ImageDecoder.Decode(file, size, pixels, "image");
                decoded[i] = new IngestItem { Id = item.Id, Pixels = pixels, Uri = item.Uri };
            }
            catch (DataFormatException e)
            {
                problems[IngestRules.Field(i) + ".image"] = [string.Create(CultureInfo.InvariantCulture, $"{file.Length} bytes that do not decode as an image ({e.Message}); send PNG or JPEG.")];
            }
        }

        return (decoded, problems);
    }

    private async Task<IndexedImage[]> TokenizeAsync(IngestItem[] items, BundleInfo info, CancellationToken cancellationToken)
    {
        var withFeatures = items.Select((item, i) => (item, i)).Where(x => x.item.Features is not null).ToArray();
        var withPixels = items.Select((item, i) => (item, i)).Where(x => x.item.Features is null).ToArray();
        var none = new TokenizedImages([], [], info.FineLevels);
        var featureTask = withFeatures.Length == 0
            ? Task.FromResult(none)
            : host.TokenizeFeaturesAsync(withFeatures.Select(x => x.item.Features!).ToArray(), cancellationToken);
        var pixelTask = withPixels.Length == 0
            ? Task.FromResult(none)
            : host.TokenizeImagesAsync(withPixels.Select(x => x.item.Pixels!).ToArray(), cancellationToken);
        var (features, pixels) = (await featureTask, await pixelTask);
        var result = new IndexedImage[items.Length];
        foreach (var (rows, tokenized) in new[] { (withFeatures, features), (withPixels, pixels) })
        {
            for (var j = 0; j < rows.Length; j++)
            {
                var (item, i) = rows[j];
                result[i] = new IndexedImage
                {
                    Id = item.Id,
                    Vokens = tokenized.Vokens.AsSpan(j * info.Levels, info.Levels).ToArray(),
                    Uri = item.Uri,
                    Fine = tokenized.Fine.AsSpan(j * tokenized.FineLevels, tokenized.FineLevels).ToArray(),
                };
            }
        }

        return result;
    }
}
