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
public sealed class TokenizationShardGrain(IModelHost host, IngestFanOut fanOut, AvgMetrics metrics) : Grain, ITokenizationShardGrain
{
    private long _images;
    private double _busySeconds;

    public async Task<IndexedImage[]> Ingest(IngestItem[] items, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        var clock = Stopwatch.StartNew();
        var info = await host.Ready;
        IngestRules.Enforce(items, info);
        // A caller that goes away cancels the rest of the batch (sending it again completes it). The meter's ingest and
        // cancellation counts are kept at the grain boundary (Telemetry/GrainCallMetrics).
        var indexed = await TokenizeAsync(items, info, cancellationToken);
        await new IngestBatchWriter(GrainFactory, fanOut).WriteAsync(indexed, info.IndexVersion, info.CodebookSize, cancellationToken);
        _images += items.Length;
        _busySeconds += clock.Elapsed.TotalSeconds;
        return indexed;
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
