using System.Collections.Concurrent;
using System.Diagnostics;
using Avg.Cluster.Grains;
using Avg.Cluster.Hosting;
using Avg.Retrieval;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Avg.Cluster.Model;

/// <summary>
/// Per-silo cache of partition tries, refreshed by delta: a query reads the catalog (one grain call), then refreshes
/// only the partitions its beams reach whose cached revision is older than the catalog's, asking each for the
/// changes since the revision held (<see cref="IVokenTriePartitionGrain.GetChanges"/>) and applying them to its
/// <see cref="CachedPartition"/> off the inference thread, in time proportional to the change. With a warm cache a
/// query costs one grain call however many partitions it touches.
/// </summary>
/// <remarks>
/// The cache also watches the partitions it holds (<see cref="IVokenTriePartitionGrain.Watch"/>): each change is pushed
/// to it as it is stored and applied here in the background, usually before the catalog, and so a query, hears of it.
/// Under steady ingest every partition changes with every batch; without the push each query would first wait for the
/// refreshes of the partitions it reads (docs/cluster.md, "Changes pushed to the query silos"). A push that finds the
/// copy at another revision than the change's base is dropped: the next query that needs it fetches the delta.
/// </remarks>
public sealed class PartitionCache : IPartitionChangeObserver
{
    /// <summary>How long a partition keeps a watch (<see cref="IVokenTriePartitionGrain.Watch"/>) that is not renewed.</summary>
    public static readonly TimeSpan WatchExpiry = TimeSpan.FromMinutes(5);

    /// <summary>
    /// A watch older than this is renewed by the next push of its partition if a query read the partition since the
    /// watch was last renewed (every fetch renews it too): a partition no query reads stops being pushed within
    /// <see cref="WatchExpiry"/>, so a silo that stopped searching does not go on applying every change.
    /// </summary>
    private static readonly TimeSpan WatchRenewal = TimeSpan.FromMinutes(1);

    private readonly IGrainFactory _grains;
    private readonly TimeSpan _refreshInterval;
    private readonly ConcurrentDictionary<(string Version, int FirstVoken), CachedPartition> _partitions = new();
    private readonly ConcurrentDictionary<(string Version, int FirstVoken, long Revision), Lazy<Task<CachedPartition>>> _inFlight = new();
    private readonly ConcurrentDictionary<(string Version, int FirstVoken), SemaphoreSlim> _refreshing = new();
    private readonly ConcurrentDictionary<string, CatalogSnapshot> _catalogs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<int, long> _queriesSinceReport = new();
    private readonly ConcurrentDictionary<(string Version, int FirstVoken), Watching> _watching = new();
    private IPartitionChangeObserver? _self;
    private long _fetches;
    private long _pushes;
    private long _wholeFetches;
    private long _hits;
    private long _staleReads;

    /// <summary>A cache whose partitions count as fresh for <paramref name="refreshInterval"/> after a refresh (0: always refreshed when they changed).</summary>
    public PartitionCache(IGrainFactory grains, TimeSpan refreshInterval)
    {
        _grains = grains;
        _refreshInterval = refreshInterval;
    }

    /// <summary>The cache of a silo: refresh interval from <see cref="AvgSiloOptions.RefreshMs"/>.</summary>
    [ActivatorUtilitiesConstructor]
    public PartitionCache(IGrainFactory grains, IOptions<AvgSiloOptions> options)
        : this(grains, TimeSpan.FromMilliseconds(options?.Value.RefreshMs ?? 0))
    {
    }

    /// <summary>A cache that always refreshes a partition that changed before a query reads it.</summary>
    public PartitionCache(IGrainFactory grains)
        : this(grains, TimeSpan.Zero)
    {
    }

    /// <summary>Queries that read a partition older than the catalog's while its refresh ran in the background.</summary>
    public long StaleReads => Interlocked.Read(ref _staleReads);

    /// <summary>Partition refreshes (grain calls) since start: deltas and whole fetches (the meter's fan-out counter reads it).</summary>
    public long Fetches => Interlocked.Read(ref _fetches);

    /// <summary>Refreshes that had to take the whole partition (nothing held, or too far behind).</summary>
    public long WholeFetches => Interlocked.Read(ref _wholeFetches);

    /// <summary>Changes pushed by the partitions this cache watches and applied to its copies since start.</summary>
    public long Pushes => Interlocked.Read(ref _pushes);

    /// <summary>Partition loads answered from the cache since start.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>
    /// Rows the newest copy of each cached partition holds: live (reachable images) and unreachable (images changed or
    /// removed since its rows were last written anew, at most max(<see cref="CachedPartition.MinimumDeadRows"/>, live)
    /// a partition). The cache's memory is proportional to their sum.
    /// </summary>
    public (long Live, long Unreachable) Rows()
    {
        long live = 0, unreachable = 0;
        foreach (var partition in _partitions.Values)
        {
            live += partition.Count;
            unreachable += partition.DeadRows;
        }

        return (live, unreachable);
    }

    /// <summary>One object per catalog version, so concurrent queries over the same catalog can share a forward pass.</summary>
    public CatalogSnapshot Intern(string indexVersion, CatalogSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return _catalogs.AddOrUpdate(indexVersion, snapshot, (_, known) => known.Version == snapshot.Version ? known : snapshot);
    }

    /// <summary>A partition source for one search over <paramref name="catalog"/>.</summary>
    public PartitionSource CreateSource(string indexVersion, CatalogSnapshot catalog, int codebookSize) => new(this, indexVersion, catalog, codebookSize);

    /// <summary>The last catalog snapshot of <paramref name="indexVersion"/> this silo read, if any: what a search uses when the catalog does not answer in time.</summary>
    public CatalogSnapshot? LastCatalog(string indexVersion) => _catalogs.TryGetValue(indexVersion, out var snapshot) ? snapshot : null;

    /// <summary>The cached partition as held now, if any (tests compare it with a whole fetch).</summary>
    public CachedPartition? Held(string version, int firstVoken) => _partitions.TryGetValue((version, firstVoken), out var p) ? p : null;

    /// <summary>The partition at least as new as <paramref name="revision"/>; refreshed when the cache is older.</summary>
    internal Task<CachedPartition> GetAsync(string version, int firstVoken, long revision, int codebookSize, out bool fetched)
    {
        _queriesSinceReport.AddOrUpdate(firstVoken, 1, (_, n) => n + 1);
        if (_watching.TryGetValue((version, firstVoken), out var watching))
        {
            watching.Read = true;
        }

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
            return RefreshAsync(key.Version, key.FirstVoken, key.Revision, codebookSize);
        }));
        var task = lazy.Value;
        fetched = created;
        if (cached is not null && !task.IsCompleted && Stopwatch.GetElapsedTime(cached.FetchedAt) < _refreshInterval)
        {
            // Near-real-time: a copy refreshed within the interval answers now; the refresh goes on in the background.
            Interlocked.Increment(ref _staleReads);
            return Task.FromResult(cached);
        }

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

    private async Task<CachedPartition> RefreshAsync(string version, int firstVoken, long revision, int codebookSize)
    {
        try
        {
            // Off the caller's thread from the start: merging a delta is CPU work the inference thread must not do.
            await Task.Yield();

            // One refresh of a partition at a time, each from the newest copy: a copy extends the rows of the one
            // before it in place only when it is the newest (CachedPartition), so a delta costs the change.
            var gate = _refreshing.GetOrAdd((version, firstVoken), _ => new SemaphoreSlim(1, 1));
            await gate.WaitAsync().ConfigureAwait(false);
            try
            {
                var known = _partitions.TryGetValue((version, firstVoken), out var held) ? held : null;
                if (known is not null && known.Revision >= revision)
                {
                    return known;
                }

                Interlocked.Increment(ref _fetches);
                var grain = _grains.GetGrain<IVokenTriePartitionGrain>(firstVoken, version);
                // A fetch means the pushes did not keep this copy fresh (never watched, or the watch was lost with the
                // partition's activation): watch again, beside the fetch.
                var watch = WatchAsync(grain, version, firstVoken);
                var changes = await grain.GetChanges(known?.Revision ?? -1).ConfigureAwait(false);
                await watch.ConfigureAwait(false);
                if (changes.IsWhole)
                {
                    Interlocked.Increment(ref _wholeFetches);
                    known = null;
                }

                var partition = CachedPartition.From(known, changes, codebookSize);
                return _partitions.AddOrUpdate((version, firstVoken), partition, (_, newer) => newer.Revision >= partition.Revision ? newer : partition);
            }
            finally
            {
                gate.Release();
            }
        }
        finally
        {
            _inFlight.TryRemove((version, firstVoken, revision), out _);
        }
    }

    /// <summary>A change pushed by a watched partition: applied in the background (the observer answers at once).</summary>
    Task IPartitionChangeObserver.Changed(string indexVersion, PartitionChanges changes)
    {
        if (indexVersion is not null && changes is not null)
        {
            _ = Task.Run(() => ApplyPushedAsync(indexVersion, changes));
        }

        return Task.CompletedTask;
    }

    private async Task ApplyPushedAsync(string version, PartitionChanges changes)
    {
        var key = (version, changes.FirstVoken);
        if (changes.IsWhole || !_partitions.TryGetValue(key, out var held) || held.Revision != changes.BaseRevision)
        {
            return;
        }

        var gate = _refreshing.GetOrAdd(key, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync().ConfigureAwait(false);
        try
        {
            // Under the gate the copy is the newest (a fetch may have moved it on meanwhile): applied only at the change's base.
            if (!_partitions.TryGetValue(key, out held) || held.Revision != changes.BaseRevision)
            {
                return;
            }

            var partition = CachedPartition.From(held, changes, held.CodebookSize);
            _partitions.AddOrUpdate(key, partition, (_, newer) => newer.Revision >= partition.Revision ? newer : partition);
            Interlocked.Increment(ref _pushes);
            if (_watching.TryGetValue(key, out var watching) && watching.Read && Stopwatch.GetElapsedTime(watching.Since) > WatchRenewal)
            {
                _ = WatchAsync(_grains.GetGrain<IVokenTriePartitionGrain>(changes.FirstVoken, version), version, changes.FirstVoken);
            }
        }
        catch (AvgException)
        {
            // A change that does not apply to the copy (it cannot, at its base): the next query's fetch brings it.
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Asks the partition to push its changes here; best effort: a failure is forgotten (the next fetch asks again).</summary>
    private async Task WatchAsync(IVokenTriePartitionGrain grain, string version, int firstVoken)
    {
        _watching[(version, firstVoken)] = new Watching(Stopwatch.GetTimestamp());
        try
        {
            _self ??= _grains.CreateObjectReference<IPartitionChangeObserver>(this);
            await grain.Watch(_self).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OrleansException or TimeoutException or InvalidOperationException)
        {
            _watching.TryRemove((version, firstVoken), out _);
        }
    }

    /// <summary>A partition this cache asked to push its changes: when it asked, and whether a query read the partition since.</summary>
    private sealed class Watching(long since)
    {
        private volatile bool _read;

        public long Since { get; } = since;

        public bool Read
        {
            get => _read;
            set => _read = value;
        }
    }
}

/// <summary>Raised when the catalog named a partition that turned out empty: the search is retried with a fresh catalog.</summary>
public sealed class StaleCatalogException(int firstVoken)
    : AvgException($"Partition {firstVoken} is empty although the index catalog lists it; the catalog is being updated.")
{
    public int FirstVoken { get; } = firstVoken;
}

/// <summary>Thrown by <see cref="PartitionSource.Load"/> when a partition is still being fetched: the model host sets the search aside until <see cref="Pending"/> completes (or the search's deadline passes), then runs it again with this source.</summary>
public sealed class PartitionsPendingException(Task pending) : Exception("Partitions are being fetched; the search runs again once they arrive.")
{
    public Task Pending { get; } = pending;
}

/// <summary>
/// Thrown by <see cref="PartitionSource.Load"/> for partitions that did not arrive by the search's deadline (or whose
/// fetch failed) and of which this silo holds no copy: the model host runs the search again without them.
/// </summary>
public sealed class PartitionsUnavailableException(int[] firstVokens)
    : AvgException($"Partitions {string.Join(", ", firstVokens)} did not answer in time; the search goes on without them.")
{
    /// <summary>Every partition this search has given up on so far.</summary>
    public int[] FirstVokens { get; } = firstVokens;
}

/// <summary>Catalog snapshots narrowed for one search.</summary>
public static class CatalogSnapshots
{
    /// <summary>The snapshot without the partitions of <paramref name="firstVokens"/> (same version: not for interning).</summary>
    public static CatalogSnapshot Without(this CatalogSnapshot catalog, IReadOnlyCollection<int> firstVokens)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(firstVokens);
        var keep = Enumerable.Range(0, catalog.FirstVokens.Length).Where(i => !firstVokens.Contains(catalog.FirstVokens[i])).ToArray();
        return new CatalogSnapshot
        {
            Version = catalog.Version,
            FirstVokens = keep.Select(i => catalog.FirstVokens[i]).ToArray(),
            Revisions = keep.Select(i => catalog.Revisions[i]).ToArray(),
            ImageCounts = keep.Select(i => catalog.ImageCounts[i]).ToArray(),
            Queries = keep.Select(i => catalog.Queries.Length > i ? catalog.Queries[i] : 0).ToArray(),
        };
    }
}

/// <summary>
/// The partitions one search (or one batch of searches over the same catalog) reads: fetches start as soon as
/// beam search knows its first vokens (<see cref="Prefetch"/>), and the inference thread never waits for one: a
/// search that reaches a partition not yet here is set aside (<see cref="PartitionsPendingException"/>) and run
/// again when its own partitions have arrived, while other searches go on. Past the search's deadline
/// (<see cref="PastDeadline"/>), or when a fetch failed, a partition is read from the copy this silo holds
/// (<see cref="Stale"/>) or, with none, given up (<see cref="PartitionsUnavailableException"/>, <see cref="Missing"/>).
/// </summary>
public sealed class PartitionSource : IVokenPartitionSource, IFineCodeLookup
{
    private readonly PartitionCache _cache;
    private readonly string _version;
    private readonly CatalogSnapshot _catalog;
    private readonly int _codebookSize;
    private readonly Dictionary<int, Task<CachedPartition>> _pending = [];
    private readonly Dictionary<int, CachedPartition> _loaded = [];
    private readonly SortedSet<int> _missing = [];
    private readonly SortedSet<int> _stale = [];
    private int _fetches;

    internal PartitionSource(PartitionCache cache, string version, CatalogSnapshot catalog, int codebookSize)
    {
        _cache = cache;
        _version = version;
        _catalog = catalog;
        _codebookSize = codebookSize;
    }

    public CatalogSnapshot Catalog => _catalog;

    /// <summary>First vokens of the partitions the search loaded (the ones its beams reached), ascending.</summary>
    public int[] LoadedPartitions => [.. _loaded.Keys.Order()];

    /// <summary>Partition grains this source called (cache misses).</summary>
    public int Fetches => Volatile.Read(ref _fetches);

    /// <summary>The search's deadline has passed: partitions not here are read from held copies or given up, not waited for.</summary>
    public bool PastDeadline { get; set; }

    /// <summary>Partitions given up: not here by the deadline (or failed) and no copy held. Ascending.</summary>
    public int[] Missing => [.. _missing];

    /// <summary>Partitions read from a copy older than the catalog's because a fresh one was not here by the deadline (or failed). Ascending.</summary>
    public int[] Stale => [.. _stale];

    public void Prefetch(ReadOnlySpan<int> firstVokens)
    {
        foreach (var firstVoken in firstVokens)
        {
            Start(firstVoken);
        }
    }

    public VokenTrie Load(int firstVoken)
    {
        var task = Start(firstVoken);
        if (!task.IsCompleted && !PastDeadline)
        {
            throw new PartitionsPendingException(Task.WhenAll(_pending.Values.Where(t => !t.IsCompleted)));
        }

        CachedPartition partition;
        if (task.IsCompletedSuccessfully)
        {
            partition = task.Result;
        }
        else if (_cache.Held(_version, firstVoken) is { Trie.IsEmpty: false } held)
        {
            _stale.Add(firstVoken);
            partition = held;
        }
        else
        {
            _missing.Add(firstVoken);
            throw new PartitionsUnavailableException(Missing);
        }

        if (partition.Trie.IsEmpty)
        {
            throw new StaleCatalogException(firstVoken);
        }

        _loaded[firstVoken] = partition;
        return partition.Trie;
    }

    /// <summary>
    /// The source for the next attempt of a search that was set aside: its fetches, nothing loaded. A new object, not
    /// this one cleared: jobs set aside together may run again in different turns, and one that already answered still
    /// resolves its hits through this one (<see cref="Resolve"/>) on a grain thread.
    /// </summary>
    internal PartitionSource Again()
    {
        var next = new PartitionSource(_cache, _version, _catalog, _codebookSize) { _fetches = Fetches };
        foreach (var (firstVoken, task) in _pending)
        {
            next._pending[firstVoken] = task;
        }

        next._missing.UnionWith(_missing);
        return next;
    }

    /// <summary>The id and URI of an image key from <see cref="PartitionedVokenTrie.ImagesAt"/>.</summary>
    public (string Id, string? Uri) Resolve(long imageKey)
    {
        var (firstVoken, local) = PartitionedVokenTrie.SplitImageKey(imageKey);
        var partition = _loaded[firstVoken];
        return (partition.IdOf(local), partition.UriOf(local));
    }

    /// <summary>The fine codes of an image key from <see cref="PartitionedVokenTrie.ImagesAt"/>.</summary>
    public ReadOnlySpan<byte> FineCodesOf(long imageId)
    {
        var (firstVoken, local) = PartitionedVokenTrie.SplitImageKey(imageId);
        return _loaded[firstVoken].FineOf(local);
    }

    private Task<CachedPartition> Start(int firstVoken)
    {
        if (_pending.TryGetValue(firstVoken, out var task))
        {
            return task;
        }

        var index = Array.BinarySearch(_catalog.FirstVokens, firstVoken);
        var revision = index >= 0 ? _catalog.Revisions[index] : 0;
        task = _cache.GetAsync(_version, firstVoken, revision, _codebookSize, out var fetched);
        if (fetched)
        {
            Interlocked.Increment(ref _fetches);
        }

        _pending[firstVoken] = task;
        return task;
    }
}
