using System.Collections.Concurrent;
using Avg.Cluster.Telemetry;
using Avg.Retrieval;

namespace Avg.Cluster.Model;

/// <summary>A partition as a query silo keeps it: its trie (local image ids 0..n−1) and the ids and URIs they stand for.</summary>
public sealed class CachedPartition
{
    public CachedPartition(PartitionSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        FirstVoken = snapshot.FirstVoken;
        Revision = snapshot.Revision;
        using var stream = new MemoryStream(snapshot.Trie, writable: false);
        Trie = VokenTrie.ReadFrom(stream, $"partition {snapshot.FirstVoken}");
        Ids = snapshot.Ids;
        Uris = snapshot.Uris;
        if (Trie.ImageCount != Ids.Length || Uris.Length != Ids.Length)
        {
            throw new AvgException($"Partition {FirstVoken} sent {Trie.ImageCount} trie images but {Ids.Length} ids and {Uris.Length} URIs.");
        }
    }

    public int FirstVoken { get; }

    public long Revision { get; }

    public VokenTrie Trie { get; }

    public string[] Ids { get; }

    public string?[] Uris { get; }
}

/// <summary>
/// Per-silo cache of partition tries, invalidated by revision: a query reads the catalog (one grain call), then
/// fetches only the partitions its beams reach whose cached revision is older than the catalog's. With a warm
/// cache a query costs one grain call however many partitions it touches.
/// </summary>
public sealed class PartitionCache(IGrainFactory grains, AvgMetrics metrics)
{
    private readonly ConcurrentDictionary<(string Version, int FirstVoken), CachedPartition> _partitions = new();
    private readonly ConcurrentDictionary<(string Version, int FirstVoken, long Revision), Lazy<Task<CachedPartition>>> _inFlight = new();
    private readonly ConcurrentDictionary<string, CatalogSnapshot> _catalogs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<int, long> _queriesSinceReport = new();
    private long _fetches;
    private long _hits;

    /// <summary>Partition snapshots fetched from partition grains since start.</summary>
    public long Fetches => Interlocked.Read(ref _fetches);

    /// <summary>Partition loads answered from the cache since start.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>One object per catalog version, so concurrent queries over the same catalog can share a forward pass.</summary>
    public CatalogSnapshot Intern(string indexVersion, CatalogSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return _catalogs.AddOrUpdate(indexVersion, snapshot, (_, known) => known.Version == snapshot.Version ? known : snapshot);
    }

    /// <summary>A partition source for one search over <paramref name="catalog"/>.</summary>
    public PartitionSource CreateSource(string indexVersion, CatalogSnapshot catalog) => new(this, indexVersion, catalog);

    /// <summary>The partition at least as new as <paramref name="revision"/>; fetched when the cache is older.</summary>
    internal Task<CachedPartition> GetAsync(string version, int firstVoken, long revision, out bool fetched)
    {
        _queriesSinceReport.AddOrUpdate(firstVoken, 1, (_, n) => n + 1);
        if (_partitions.TryGetValue((version, firstVoken), out var cached) && cached.Revision >= revision)
        {
            Interlocked.Increment(ref _hits);
            fetched = false;
            return Task.FromResult(cached);
        }

        var created = false;
        var lazy = _inFlight.GetOrAdd((version, firstVoken, revision), key => new Lazy<Task<CachedPartition>>(() =>
        {
            created = true;
            return FetchAsync(key.Version, key.FirstVoken, key.Revision);
        }));
        var task = lazy.Value;
        fetched = created;
        return task;
    }

    /// <summary>Per-partition query counts since the last call (for the catalog's load figures).</summary>
    public (int[] FirstVokens, long[] Queries) TakeQueryCounts()
    {
        var vokens = new List<int>();
        var counts = new List<long>();
        foreach (var key in _queriesSinceReport.Keys)
        {
            if (_queriesSinceReport.TryRemove(key, out var n) && n > 0)
            {
                vokens.Add(key);
                counts.Add(n);
            }
        }

        return ([.. vokens], [.. counts]);
    }

    private async Task<CachedPartition> FetchAsync(string version, int firstVoken, long revision)
    {
        try
        {
            Interlocked.Increment(ref _fetches);
            metrics.RecordFanOutCall();
            var snapshot = await grains.GetGrain<IVokenTriePartitionGrain>(firstVoken, version).GetSnapshot().ConfigureAwait(false);
            var partition = new CachedPartition(snapshot);
            _partitions.AddOrUpdate((version, firstVoken), partition, (_, known) => known.Revision >= partition.Revision ? known : partition);
            return partition;
        }
        finally
        {
            _inFlight.TryRemove((version, firstVoken, revision), out _);
        }
    }
}

/// <summary>Raised when the catalog named a partition that turned out empty: the search is retried with a fresh catalog.</summary>
public sealed class StaleCatalogException(int firstVoken)
    : AvgException($"Partition {firstVoken} is empty although the index catalog lists it; the catalog is being updated.")
{
    public int FirstVoken { get; } = firstVoken;
}

/// <summary>
/// The partitions one search (or one batch of searches over the same catalog) reads: fetches start as soon as
/// beam search knows its first vokens (<see cref="Prefetch"/>), overlapping the next generator step, and are waited
/// for on the inference thread, never on the Orleans scheduler.
/// </summary>
public sealed class PartitionSource : IVokenPartitionSource
{
    private readonly PartitionCache _cache;
    private readonly string _version;
    private readonly CatalogSnapshot _catalog;
    private readonly Dictionary<int, Task<CachedPartition>> _pending = [];
    private readonly Dictionary<int, CachedPartition> _loaded = [];
    private int _fetches;

    internal PartitionSource(PartitionCache cache, string version, CatalogSnapshot catalog)
    {
        _cache = cache;
        _version = version;
        _catalog = catalog;
    }

    public CatalogSnapshot Catalog => _catalog;

    /// <summary>First vokens of the partitions the search loaded (the ones its beams reached), ascending.</summary>
    public int[] LoadedPartitions => [.. _loaded.Keys.Order()];

    /// <summary>Partition grains this source called (cache misses).</summary>
    public int Fetches => Volatile.Read(ref _fetches);

    public void Prefetch(ReadOnlySpan<int> firstVokens)
    {
        foreach (var firstVoken in firstVokens)
        {
            Start(firstVoken);
        }
    }

    public VokenTrie Load(int firstVoken)
    {
        var partition = Start(firstVoken).GetAwaiter().GetResult();
        if (partition.Trie.IsEmpty)
        {
            throw new StaleCatalogException(firstVoken);
        }

        _loaded[firstVoken] = partition;
        return partition.Trie;
    }

    /// <summary>The id and URI of an image key from <see cref="PartitionedVokenTrie.ImagesAt"/>.</summary>
    public (string Id, string? Uri) Resolve(long imageKey)
    {
        var (firstVoken, local) = PartitionedVokenTrie.SplitImageKey(imageKey);
        var partition = _loaded[firstVoken];
        return (partition.Ids[local], partition.Uris[local]);
    }

    private Task<CachedPartition> Start(int firstVoken)
    {
        if (_pending.TryGetValue(firstVoken, out var task))
        {
            return task;
        }

        var index = Array.BinarySearch(_catalog.FirstVokens, firstVoken);
        var revision = index >= 0 ? _catalog.Revisions[index] : 0;
        task = _cache.GetAsync(_version, firstVoken, revision, out var fetched);
        if (fetched)
        {
            Interlocked.Increment(ref _fetches);
        }

        _pending[firstVoken] = task;
        return task;
    }
}
