using System.Diagnostics;
using Avg.Cluster.Hosting;
using Avg.Cluster.Model;
using Avg.Cluster.Placement;
using Avg.Cluster.Telemetry;
using Avg.Retrieval;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Avg.Cluster.Grains;

/// <summary>
/// Answers text queries on a model silo: reads the index catalog (one grain call), then runs constrained beam search
/// on the silo's model host over a <see cref="PartitionedVokenTrie"/>: step 1 picks the top-b first vokens among the
/// partitions that exist, later steps expand prefixes inside the partitions the beams reached (fetched once per
/// revision into the silo's cache), and the final leaves expand to image ids. Equals the in-process search. Answers
/// within <see cref="AvgSiloOptions.QueryTimeoutMs"/>: a catalog or partition that does not answer by then is replaced
/// by the copy this silo holds, or left out, and the result says which (<see cref="SearchResult.Partial"/>).
/// </summary>
[StatelessWorker]
[Reentrant] // no state of its own: while one query waits on the model host, the next one joins its batch
[ModelSiloPlacementFilter]
public sealed class QueryGrain(IModelHost host, PartitionCache cache, SearchCancellations cancellations, SearchActivity searches, IOptions<AvgSiloOptions> options) : Grain, IQueryGrain
{
    /// <summary>Attempts when a partition empties between the catalog read and its fetch.</summary>
    private const int StaleCatalogRetries = 3;

    public async Task<SearchResult> Search(SearchRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        SearchLimits.Enforce(request.Query, request.K, request.Beam, request.LevelBeams);
        var clock = Stopwatch.StartNew();
        using var cancellation = cancellations.Register(request.RequestId, cancellationToken);
        cancellationToken = cancellation.Token;
        // Ingest calls on this silo hold back while searches are in progress (SearchActivity, Avg__IngestHoldMs).
        searches.Begin();
        try
        {
            // Duration, partial answers and cancellations are counted at the grain boundary (Telemetry/GrainCallMetrics).
            return await SearchIndex(request, clock, cancellationToken);
        }
        finally
        {
            searches.End();
        }
    }

    public Task Cancel(Guid requestId)
    {
        cancellations.Cancel(requestId);
        return Task.CompletedTask;
    }

    public Task<BundleInfo> GetBundleInfo() => host.Ready;

    private async Task<SearchResult> SearchIndex(SearchRequest request, Stopwatch clock, CancellationToken cancellationToken)
    {
        var info = await host.Ready;
        var timeout = TimeSpan.FromMilliseconds(options.Value.QueryTimeoutMs);
        // A request without a beam searches with the bundle's recorded default (docs/design.md §1.7).
        var beam = request.Beam ?? info.DefaultBeam;
        var searchOptions = new SearchOptions { K = request.K, Beam = beam, LevelBeams = request.LevelBeams }.Validate();
        var reportedBeam = request.LevelBeams is null ? beam : 0;
        var catalog = GrainFactory.GetGrain<IIndexCatalogGrain>(info.IndexVersion);
        var calls = 0;
        for (var attempt = 1; ; attempt++)
        {
            var reading = Stopwatch.GetTimestamp();
            var (snapshot, staleCatalog) = await ReadCatalogAsync(catalog, info.IndexVersion, Left(timeout, clock), cancellationToken);
            var catalogMs = Stopwatch.GetElapsedTime(reading).TotalMilliseconds;
            calls++;
            if (snapshot.FirstVokens.Length == 0)
            {
                return new SearchResult { IndexVersion = info.IndexVersion, TotalMs = clock.Elapsed.TotalMilliseconds, GrainCalls = calls, Silo = RuntimeIdentity, StaleCatalog = staleCatalog, Beam = reportedBeam };
            }

            try
            {
                var outcome = await host.SearchAsync(request.Query, searchOptions, info.IndexVersion, snapshot, Left(timeout, clock), cancellationToken);
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
                    GrainCalls = calls + outcome.Source.Fetches,
                    Partitions = outcome.Source.LoadedPartitions,
                    BatchSize = outcome.BatchSize,
                    Silo = RuntimeIdentity,
                    MissingPartitions = outcome.Missing,
                    StalePartitions = outcome.Stale,
                    StaleCatalog = staleCatalog,
                    Beam = reportedBeam,
                };
            }
            catch (StaleCatalogException) when (attempt < StaleCatalogRetries)
            {
                // A partition emptied after the catalog was read: read it again.
                continue;
            }
        }
    }

    /// <summary>The catalog's snapshot; when it does not answer within <paramref name="timeout"/> or fails, the last one this silo read (flagged), if any.</summary>
    private async Task<(CatalogSnapshot Snapshot, bool Stale)> ReadCatalogAsync(IIndexCatalogGrain catalog, string indexVersion, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            return (cache.Intern(indexVersion, await catalog.GetSnapshot().WaitAsync(timeout, cancellationToken)), false);
        }
        catch (Exception e) when (e is not OperationCanceledException && cache.LastCatalog(indexVersion) is { } last)
        {
            return (last, true);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The index catalog did not answer within {options.Value.QueryTimeoutMs} ms (Avg__QueryTimeoutMs) and this silo has not read it before; retry.");
        }
    }

    private static TimeSpan Left(TimeSpan timeout, Stopwatch clock) => timeout > clock.Elapsed ? timeout - clock.Elapsed : TimeSpan.Zero;
}
