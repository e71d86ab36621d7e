using System.Diagnostics;
using Avg.Cluster.Model;
using Avg.Cluster.Placement;
using Avg.Cluster.Telemetry;

namespace Avg.Cluster.Grains;

/// <summary>
/// One ingest shard (key: shard number), on a model silo: runs encoder + quantizer for its batches on the silo's
/// model host, records each image in the directory, and routes (id, vokens) to the partition of the first voken,
/// removing an image that moved from its old partition. Counts images and busy time for images/s.
/// </summary>
[ModelSiloPlacementFilter]
public sealed class TokenizationShardGrain(ModelHost host, IngestFanOut fanOut, AvgMetrics metrics) : Grain, ITokenizationShardGrain
{
    private long _images;
    private double _busySeconds;

    public async Task<IndexedImage[]> Ingest(IngestItem[] items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var clock = Stopwatch.StartNew();
        var info = await host.Ready;
        var indexed = await TokenizeAsync(items, info);

        await IndexAsync(indexed, info);
        _images += items.Length;
        metrics.RecordIngest((int)this.GetPrimaryKeyLong(), items.Length);
        _busySeconds += clock.Elapsed.TotalSeconds;
        return indexed;
    }

    /// <summary>
    /// Writes a tokenized batch: directory (new ids), partitions, then the moves of re-indexed ids whose first voken
    /// changed (old partition's removal, then the directory). Each step is idempotent and a step only follows the ones
    /// before it, so a batch that failed part-way is completed by sending it again (docs/cluster.md, "Ingest
    /// atomicity"); until then an image of it is either indexed or invisible (a directory entry whose partition does
    /// not hold it is not found, counted or searched).
    /// </summary>
    private async Task IndexAsync(IndexedImage[] indexed, BundleInfo info)
    {
        // The last of an id wins, as partitions apply it.
        var latest = new Dictionary<string, IndexedImage>(StringComparer.Ordinal);
        foreach (var image in indexed)
        {
            latest[image.Id] = image;
        }

        var images = latest.Values.ToArray();
        var moves = new List<(IndexedImage Image, int From)>();
        var directoryCalls = images.GroupBy(image => ImageDirectoryBuckets.Of(image.Id)).Select(async bucket =>
        {
            var group = bucket.ToArray();
            var previous = await fanOut.RunAsync(() => Directory(bucket.Key, info).Assign(group.Select(i => i.Id).ToArray(), group.Select(i => i.Partition).ToArray()));
            return group.Zip(previous, (image, from) => (image, from));
        });
        foreach (var result in await Task.WhenAll(directoryCalls))
        {
            moves.AddRange(result.Where(r => r.from >= 0 && r.from != r.image.Partition));
        }

        await Task.WhenAll(images.GroupBy(image => image.Partition).Select(partition => fanOut.RunAsync(() =>
            Partition(partition.Key, info).Upsert(partition.ToArray(), info.VocabularySize))));
        if (moves.Count == 0)
        {
            return;
        }

        await Task.WhenAll(moves.GroupBy(m => m.From).Select(old => fanOut.RunAsync(() =>
            Partition(old.Key, info).Remove(old.Select(m => m.Image.Id).ToArray()))));
        await Task.WhenAll(moves.GroupBy(m => ImageDirectoryBuckets.Of(m.Image.Id)).Select(bucket => fanOut.RunAsync(() =>
            Directory(bucket.Key, info).Move(bucket.Select(m => m.Image.Id).ToArray(), bucket.Select(m => m.Image.Partition).ToArray()))));
    }

    private IImageDirectoryGrain Directory(int bucket, BundleInfo info) => GrainFactory.GetGrain<IImageDirectoryGrain>(bucket, info.IndexVersion);

    private IVokenTriePartitionGrain Partition(int firstVoken, BundleInfo info) => GrainFactory.GetGrain<IVokenTriePartitionGrain>(firstVoken, info.IndexVersion);

    public Task<ShardStats> GetStats() => Task.FromResult(new ShardStats
    {
        Shard = (int)this.GetPrimaryKeyLong(),
        Images = _images,
        BusySeconds = _busySeconds,
        RecentImagesPerSecond = metrics.ShardRate((int)this.GetPrimaryKeyLong()),
        History = metrics.ShardHistory((int)this.GetPrimaryKeyLong()),
        Silo = RuntimeIdentity,
    });

    private async Task<IndexedImage[]> TokenizeAsync(IngestItem[] items, BundleInfo info)
    {
        var withFeatures = items.Select((item, i) => (item, i)).Where(x => x.item.Features is not null).ToArray();
        var withPixels = items.Select((item, i) => (item, i)).Where(x => x.item.Features is null).ToArray();
        foreach (var (item, _) in withFeatures)
        {
            if (item.Features!.Length != info.FeatureWidth)
            {
                throw new AvgException($"Image '{item.Id}' has {item.Features.Length} features; this bundle takes {info.FeatureWidth}.");
            }
        }

        var bytesPerImage = 3 * info.ImageSize * info.ImageSize;
        foreach (var (item, _) in withPixels)
        {
            if (item.Pixels is null || item.Pixels.Length != bytesPerImage)
            {
                throw new AvgException($"Image '{item.Id}' has {item.Pixels?.Length ?? 0} pixel bytes; expected {bytesPerImage} (3 × {info.ImageSize} × {info.ImageSize}).");
            }
        }

        var none = new TokenizedImages([], [], info.FineLevels);
        var featureTask = withFeatures.Length == 0
            ? Task.FromResult(none)
            : host.TokenizeFeaturesAsync(withFeatures.SelectMany(x => x.item.Features!).ToArray(), withFeatures.Length);
        var pixelTask = withPixels.Length == 0
            ? Task.FromResult(none)
            : host.TokenizeImagesAsync(withPixels.SelectMany(x => x.item.Pixels!).ToArray(), withPixels.Length);
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
                    Vokens = tokenized.Vokens.AsSpan(j * info.Depth, info.Depth).ToArray(),
                    Uri = item.Uri,
                    Fine = tokenized.Fine.AsSpan(j * tokenized.FineLevels, tokenized.FineLevels).ToArray(),
                };
            }
        }

        return result;
    }
}
