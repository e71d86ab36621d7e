using Avg.Cluster.Placement;

namespace Avg.Cluster.Grains;

/// <summary>
/// The root of the distributed trie (key: index version): which first vokens have a partition, with their image
/// counts, revisions (for query silos' caches) and query counts. Persisted; snapshots are immutable and reused
/// until the next change.
/// </summary>
[PartitionSiloPlacementFilter]
public sealed class IndexCatalogGrain(
    [PersistentState("catalog", AvgStorage.Name)] IPersistentState<CatalogState> state) : Grain, IIndexCatalogGrain
{
    private CatalogSnapshot? _snapshot;

    public async Task Report(int firstVoken, int images, long revision)
    {
        var partitions = state.State.Partitions;
        if (images <= 0)
        {
            partitions.Remove(firstVoken);
        }
        else
        {
            var entry = partitions.TryGetValue(firstVoken, out var known) ? known : partitions[firstVoken] = new CatalogEntry();
            if (revision < entry.Revision)
            {
                return;
            }

            entry.Images = images;
            entry.Revision = revision;
        }

        state.State.Version++;
        _snapshot = null;
        await state.WriteStateAsync();
    }

    public Task ReportQueries(int[] firstVokens, long[] queries)
    {
        ArgumentNullException.ThrowIfNull(firstVokens);
        ArgumentNullException.ThrowIfNull(queries);
        for (var i = 0; i < firstVokens.Length; i++)
        {
            if (state.State.Partitions.TryGetValue(firstVokens[i], out var entry))
            {
                entry.Queries += queries[i];
            }
        }

        // Query counts are load figures, not index state: kept in memory, written with the next index change.
        _snapshot = null;
        return Task.CompletedTask;
    }

    public Task<CatalogSnapshot> GetSnapshot()
    {
        if (_snapshot is null)
        {
            var ordered = state.State.Partitions.OrderBy(p => p.Key).ToArray();
            _snapshot = new CatalogSnapshot
            {
                Version = state.State.Version,
                FirstVokens = ordered.Select(p => p.Key).ToArray(),
                Revisions = ordered.Select(p => p.Value.Revision).ToArray(),
                ImageCounts = ordered.Select(p => p.Value.Images).ToArray(),
                Queries = ordered.Select(p => p.Value.Queries).ToArray(),
            };
        }

        return Task.FromResult(_snapshot);
    }
}
