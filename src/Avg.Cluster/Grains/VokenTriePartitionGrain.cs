using Avg.Cluster.Placement;
using Avg.Cluster.Telemetry;
using Microsoft.Extensions.Logging;

namespace Avg.Cluster.Grains;

/// <summary>
/// One partition of the voken trie (key: first voken; extension: index version). Holds the sub-trie as flat arrays
/// and the ids and URIs at its leaves, persists them on every change, rebuilds the trie on activation, and tells the
/// catalog its image count and revision.
/// </summary>
[PartitionSiloPlacementFilter]
public sealed partial class VokenTriePartitionGrain(
    [PersistentState("partition", AvgStorage.Name)] IPersistentState<PartitionState> state,
    AvgMetrics metrics,
    ILogger<VokenTriePartitionGrain> logger) : Grain, IVokenTriePartitionGrain
{
    private readonly Dictionary<string, (int[] Vokens, string? Uri)> _entries = new(StringComparer.Ordinal);
    private PartitionIndex? _index;
    private PartitionSnapshot? _snapshot;

    private int FirstVoken => (int)this.GetPrimaryKeyLong(out _);

    private string IndexVersion
    {
        get
        {
            this.GetPrimaryKeyLong(out var version);
            return version ?? "";
        }
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var s = state.State;
        for (var i = 0; i < s.Ids.Length; i++)
        {
            _entries[s.Ids[i]] = (s.Vokens.AsSpan(i * s.Depth, s.Depth).ToArray(), s.Uris[i]);
        }

        Rebuild();
        if (_entries.Count > 0)
        {
            Log.Restored(logger, FirstVoken, _entries.Count, s.Revision);
        }

        metrics.SetPartitionImages(IndexVersion, FirstVoken, _entries.Count);
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.RemovePartition(IndexVersion, FirstVoken);
        return Task.CompletedTask;
    }

    public async Task<int> Upsert(IndexedImage[] images, int vocabularySize)
    {
        ArgumentNullException.ThrowIfNull(images);
        foreach (var image in images)
        {
            if (image.Vokens.Length == 0 || image.Vokens[0] != FirstVoken)
            {
                throw new AvgException($"Image '{image.Id}' (vokens [{string.Join(',', image.Vokens)}]) does not belong to partition {FirstVoken}.");
            }

            if (state.State.Depth != 0 && image.Vokens.Length != state.State.Depth)
            {
                throw new AvgException($"Image '{image.Id}' has {image.Vokens.Length} vokens; partition {FirstVoken} holds sequences of {state.State.Depth}.");
            }

            state.State.Depth = image.Vokens.Length;
            _entries[image.Id] = (image.Vokens, image.Uri);
        }

        state.State.VocabularySize = vocabularySize;
        await CommitAsync();
        return _entries.Count;
    }

    public async Task<int> Remove(string[] ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var removed = ids.Count(_entries.Remove);
        if (removed > 0)
        {
            await CommitAsync();
        }

        return removed;
    }

    public Task<PartitionSnapshot> GetSnapshot()
    {
        _snapshot ??= new PartitionSnapshot
        {
            FirstVoken = FirstVoken,
            Revision = state.State.Revision,
            Trie = _index!.TrieBytes(),
            Ids = _index.Ids,
            Uris = _index.Uris,
        };
        return Task.FromResult(_snapshot);
    }

    public Task<IndexedImage?> Find(string id) =>
        Task.FromResult(_entries.TryGetValue(id, out var entry) ? new IndexedImage { Id = id, Vokens = entry.Vokens, Uri = entry.Uri } : null);

    public Task<IndexedImage[]> Neighbours(string id, int k)
    {
        var local = _index!.LocalOf(id);
        if (local < 0)
        {
            return Task.FromResult(Array.Empty<IndexedImage>());
        }

        var nearest = PrefixNeighbours.Find(_index.Trie, _entries[id].Vokens, local, k);
        return Task.FromResult(nearest.Select(n => new IndexedImage { Id = _index.Ids[n], Vokens = _entries[_index.Ids[n]].Vokens, Uri = _index.Uris[n] }).ToArray());
    }

    public Task<int[]> Expand(int[] prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var node = _index!.Trie.FindNode(prefix);
        return Task.FromResult(node < 0 || _index.Trie.IsLeaf(node) ? [] : _index.Trie.ChildrenOf(node).Vokens.ToArray());
    }

    public Task<string[]> ImagesAt(int[] vokens)
    {
        ArgumentNullException.ThrowIfNull(vokens);
        var leaf = _index!.Trie.Find(vokens);
        if (leaf < 0)
        {
            return Task.FromResult(Array.Empty<string>());
        }

        var locals = _index.Trie.ImagesAt(leaf);
        var ids = new string[locals.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = _index.Ids[locals[i]];
        }

        return Task.FromResult(ids);
    }

    private async Task CommitAsync()
    {
        Rebuild();
        var s = state.State;
        s.Revision++;
        s.Ids = _index!.Ids;
        s.Uris = _index.Uris;
        var vokens = new int[_index.Ids.Length * s.Depth];
        for (var i = 0; i < _index.Ids.Length; i++)
        {
            _entries[_index.Ids[i]].Vokens.CopyTo(vokens, i * s.Depth);
        }

        s.Vokens = vokens;
        await state.WriteStateAsync();
        _snapshot = null;
        metrics.SetPartitionImages(IndexVersion, FirstVoken, _entries.Count);
        await GrainFactory.GetGrain<IIndexCatalogGrain>(IndexVersion).Report(FirstVoken, _entries.Count, s.Revision);
    }

    private void Rebuild()
    {
        var depth = Math.Max(1, state.State.Depth);
        var vocabulary = Math.Max(FirstVoken + 1, state.State.VocabularySize);
        _index = PartitionIndex.Build(_entries, depth, vocabulary);
        _snapshot = null;
    }

    private static partial class Log
    {
        [LoggerMessage(10, LogLevel.Debug, "Partition {FirstVoken} restored {Images} images from storage (revision {Revision})")]
        public static partial void Restored(ILogger logger, int firstVoken, int images, long revision);
    }
}
