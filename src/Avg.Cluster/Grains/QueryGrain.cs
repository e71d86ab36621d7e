using System.Diagnostics;
using Avg.Cluster.Model;
using Avg.Cluster.Placement;
using Avg.Retrieval;
using Orleans.Concurrency;

namespace Avg.Cluster.Grains;

/// <summary>
/// Answers text queries on a model silo: reads the index catalog (one grain call), then runs constrained beam search
/// on the silo's model host over a <see cref="PartitionedVokenTrie"/>: step 1 picks the top-b first vokens among the
/// partitions that exist, later steps expand prefixes inside the partitions the beams reached (fetched once per
/// revision into the silo's cache), and the final leaves expand to image ids. Equals the in-process search.
/// </summary>
[StatelessWorker]
[Reentrant] // no state of its own: while one query waits on the model host, the next one joins its batch
[ModelSiloPlacementFilter]
public sealed class QueryGrain(ModelHost host, PartitionCache cache) : Grain, IQueryGrain
{
    /// <summary>Attempts when a partition empties between the catalog read and its fetch.</summary>
    private const int StaleCatalogRetries = 3;

    public async Task<SearchResult> Search(SearchRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        SearchLimits.Enforce(request.Query, request.K, request.Beam, request.LevelBeams);
        // The query duration metric is recorded at the grain boundary (Telemetry/GrainCallMetrics).
        return await SearchIndex(request, Stopwatch.StartNew());
    }

    public Task<BundleInfo> GetBundleInfo() => host.Ready;

    private async Task<SearchResult> SearchIndex(SearchRequest request, Stopwatch clock)
    {
        var info = await host.Ready;
        var options = new SearchOptions { K = request.K, Beam = request.Beam, LevelBeams = request.LevelBeams }.Validate();
        var catalog = GrainFactory.GetGrain<IIndexCatalogGrain>(info.IndexVersion);
        var calls = 0;
        for (var attempt = 1; ; attempt++)
        {
            var reading = Stopwatch.GetTimestamp();
            var snapshot = cache.Intern(info.IndexVersion, await catalog.GetSnapshot());
            var catalogMs = Stopwatch.GetElapsedTime(reading).TotalMilliseconds;
            calls++;
            if (snapshot.FirstVokens.Length == 0)
            {
                return new SearchResult { IndexVersion = info.IndexVersion, TotalMs = clock.Elapsed.TotalMilliseconds, FanOutCalls = calls, Silo = RuntimeIdentity };
            }

            try
            {
                var outcome = await host.SearchAsync(request.Query, options, info.IndexVersion, snapshot);
                var items = outcome.Hits.Select(hit =>
                {
                    var (id, uri) = outcome.Source.Resolve(hit.ImageId);
                    return new SearchResultItem { ImageId = id, Score = hit.Score, Vokens = hit.Vokens, Uri = uri };
                }).ToArray();
                return new SearchResult
                {
                    Items = items,
                    IndexVersion = info.IndexVersion,
                    TotalMs = clock.Elapsed.TotalMilliseconds,
                    GeneratorMs = outcome.GeneratorMs,
                    CatalogMs = catalogMs,
                    WaitMs = outcome.WaitMs,
                    FanOutCalls = calls + outcome.Source.Fetches,
                    Partitions = outcome.Source.LoadedPartitions,
                    BatchSize = outcome.BatchSize,
                    Silo = RuntimeIdentity,
                };
            }
            catch (StaleCatalogException) when (attempt < StaleCatalogRetries)
            {
                // A partition emptied after the catalog was read: read it again.
                continue;
            }
        }
    }
}
