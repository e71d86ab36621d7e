using Avg.Cluster.Placement;
using Avg.Cluster.Storage;
using Orleans.Storage;

namespace Avg.Cluster.Grains;

/// <summary>
/// The root of the distributed trie (key: index version): which first vokens have a partition, with their image
/// counts, revisions (for query silos' caches) and query counts. A report costs no storage write unless a partition
/// appears or empties (at most a few hundred times per index): counts and revisions live in memory and, on
/// activation, are read back from the partitions themselves, so the catalog never serialises storage writes.
/// Snapshots are immutable and reused until the next change.
/// </summary>
[PartitionSiloPlacementFilter]
public sealed class IndexCatalogGrain(
    [PersistentState("catalog", AvgStorage.Name)] IPersistentState<CatalogState> state) : Grain, IIndexCatalogGrain
{
    private CatalogSnapshot? _snapshot;

    /// <summary>Memory holds a partition list that storage may not have (a write failed): the next report writes it.</summary>
    private bool _unsaved;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Versions keep rising across activations (query silos intern snapshots by version).
        state.State.Version = Math.Max(state.State.Version, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000);
        var version = this.GetPrimaryKeyString();
        var known = state.State.Partitions.Keys.ToArray();
        var infos = await Task.WhenAll(known.Select(f => GrainFactory.GetGrain<IVokenTriePartitionGrain>(f, version).GetInfo()));
        for (var i = 0; i < known.Length; i++)
        {
            var entry = state.State.Partitions[known[i]];
            entry.Images = infos[i].Images;
            entry.Revision = infos[i].Revision;
        }
    }

    public async Task Report(int firstVoken, int images, long revision)
    {
        var partitions = state.State.Partitions;
        var existed = partitions.TryGetValue(firstVoken, out var entry);
        if (existed && (revision < entry!.Revision || (revision == entry.Revision && images == entry.Images)))
        {
            return;
        }

        if (!existed && images <= 0)
        {
            return;
        }

        if (images <= 0)
        {
            partitions.Remove(firstVoken);
        }
        else
        {
            entry ??= partitions[firstVoken] = new CatalogEntry();
            entry.Images = images;
            entry.Revision = revision;
        }

        state.State.Version++;
        _snapshot = null;
        if (existed != images > 0 || _unsaved)
        {
            await SaveAsync();
        }
    }

    /// <summary>
    /// Writes the partition list. A failed write keeps memory (queries go on with it) and is tried again on the next
    /// report; when the stored version tag has moved (a write whose answer was lost), the stored state is read for its
    /// tag and overwritten with memory, which has every report.
    /// </summary>
    private async Task SaveAsync()
    {
        try
        {
            try
            {
                await state.WriteStateAsync();
            }
            catch (InconsistentStateException)
            {
                var held = state.State;
                await state.ReadStateAsync();
                held.Version = Math.Max(held.Version, state.State.Version + 1);
                state.State = held;
                await state.WriteStateAsync();
            }

            _unsaved = false;
        }
        catch (Exception e)
        {
            _unsaved = true;
            throw e is InconsistentStateException or AvgException ? e : IndexStorageUnavailableException.For("writing the catalog of", this.GetPrimaryKeyString(), e);
        }
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

        // Query counts are load figures, not index state: kept in memory, written when the partition set next changes.
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
