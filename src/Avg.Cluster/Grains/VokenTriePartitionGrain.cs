using Avg.Cluster.Hosting;
using Avg.Cluster.Model;
using Avg.Cluster.Placement;
using Avg.Cluster.Storage;
using Avg.Retrieval;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Utilities;

namespace Avg.Cluster.Grains;

/// <summary>
/// One partition of the voken trie (key: first voken; extension: index version). A change costs time and storage
/// proportional to the change (docs/cluster.md, "Incremental partitions"): the images live in a dictionary, each
/// change is appended to the partition's stored log as one record and kept in a short in-memory change list that
/// query silos refresh from by delta (<see cref="GetChanges"/>); the sorted run and trie are built only when asked
/// for (prefix look-ups, a whole-partition fetch). Activation replays the stored base and records.
/// </summary>
[PartitionSiloPlacementFilter]
public sealed partial class VokenTriePartitionGrain(
    IIndexLogStore store,
    LowPriorityWork lowPriority,
    IOptions<AvgSiloOptions> options,
    ILogger<VokenTriePartitionGrain> logger) : Grain, IVokenTriePartitionGrain
{
    /// <summary>Changed ids the change list keeps at least, however small the partition (<see cref="GetChanges"/>).</summary>
    public const int ChangeListMinimum = 256;

    private readonly Dictionary<string, (int[] Vokens, string? Uri, byte[] Fine)> _entries = new(StringComparer.Ordinal);

    /// <summary>Ids each revision after <see cref="_changesFrom"/> touched, oldest first: what <see cref="GetChanges"/> answers from.</summary>
    private readonly Queue<(long Revision, string[] Ids)> _changes = new();
    private long _changesFrom;
    private int _changedIds;
    private CompactingLog _log = null!;
    private long _revision;
    private int _depth;
    private int _fineLevels;
    private int _codebookSize;
    private (PartitionRun Run, VokenTrie Trie, Dictionary<string, int> RowOf)? _built;
    private PartitionChanges? _whole;

    /// <summary>The query silos' caches this partition pushes its changes to (<see cref="Watch"/>); created by the first.</summary>
    private ObserverManager<IPartitionChangeObserver>? _watchers;

    /// <summary>
    /// The catalog may not know this partition's count and revision: set on activation and when a report failed, so
    /// the next call (a retried batch that changes nothing, too) reports again; cleared by a report that got through.
    /// </summary>
    private bool _reportPending;

    internal int FirstVoken => (int)this.GetPrimaryKeyLong(out _);

    /// <summary>Images this partition holds now (the meter's partition gauge reads it after each call, Telemetry/GrainCallMetrics, and drops it on deactivation, Telemetry/PartitionActivationMetrics).</summary>
    internal int ImageCount => _entries.Count;

    internal string IndexVersion
    {
        get
        {
            this.GetPrimaryKeyLong(out var version);
            return version ?? "";
        }
    }

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var key = IndexLogKeys.Partition(IndexVersion, FirstVoken);
        _log = new CompactingLog(store, key, options.Value.CompactionMinimum);
        var records = await _log.ReplayAsync(IndexLogRecords.DecodePartition, () => { }, Replay, r => r.Ids.Length + r.Removed.Length);
        _changesFrom = _revision;
        if (_entries.Count > 0)
        {
            Log.Restored(logger, FirstVoken, _entries.Count, _revision, records);
        }

        if (_entries.Count > 0)
        {
            // A record stored by a write whose answer was lost, or a report that failed before this activation, may
            // be unknown to the catalog: tell it once this activation runs (not awaited here: the catalog may be
            // activating itself, asking this partition for its info).
            _reportPending = true;
            this.RegisterGrainTimer(ReportIfPendingAsync, new GrainTimerCreationOptions(TimeSpan.Zero, Timeout.InfiniteTimeSpan));
        }
    }

    public async Task<int> Upsert(IndexedImage[] images, int codebookSize, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        await InStepAsync();
        if (images.Length == 0)
        {
            return _entries.Count;
        }

        var depth = _depth;
        var fineLevels = _entries.Count > 0 ? _fineLevels : images[0].Fine.Length;
        var batch = new Dictionary<string, IndexedImage>(StringComparer.Ordinal);
        foreach (var image in images)
        {
            if (image.Vokens.Length == 0 || image.Vokens[0] != FirstVoken)
            {
                throw new AvgException($"Image '{image.Id}' (vokens [{string.Join(',', image.Vokens)}]) does not belong to partition {FirstVoken}.");
            }

            if (depth != 0 && image.Vokens.Length != depth)
            {
                throw new AvgException($"Image '{image.Id}' has {image.Vokens.Length} vokens; partition {FirstVoken} holds sequences of {depth}.");
            }

            if (image.Fine.Length != fineLevels)
            {
                throw new AvgException($"Image '{image.Id}' has {image.Fine.Length} fine codes; partition {FirstVoken} holds {fineLevels} per image.");
            }

            depth = image.Vokens.Length;
            batch[image.Id] = image; // the last of an id wins, as it did when applied one by one
        }

        var changed = batch.Values.Where(i => !_entries.TryGetValue(i.Id, out var known) || known.Uri != i.Uri || !known.Vokens.AsSpan().SequenceEqual(i.Vokens) || !known.Fine.AsSpan().SequenceEqual(i.Fine)).ToArray();
        _codebookSize = Math.Max(_codebookSize, codebookSize);
        if (changed.Length == 0)
        {
            // A retried batch whose images are all here: its first attempt may have failed reporting them.
            await ReportIfPendingAsync();
            return _entries.Count;
        }

        var record = new PartitionRecord(
            _revision + 1,
            depth,
            changed.Select(i => i.Id).ToArray(),
            changed.SelectMany(i => i.Vokens).ToArray(),
            changed.Select(i => i.Uri).ToArray(),
            [],
            fineLevels,
            changed.SelectMany(i => i.Fine).ToArray());
        cancellationToken.ThrowIfCancellationRequested();
        await CommitAsync(record);
        return _entries.Count;
    }

    public async Task<int> Remove(string[] ids, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ids);
        await InStepAsync();
        var present = ids.Distinct(StringComparer.Ordinal).Where(_entries.ContainsKey).ToArray();
        if (present.Length > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await CommitAsync(new PartitionRecord(_revision + 1, _depth, [], [], [], present, _fineLevels, []));
        }
        else
        {
            await ReportIfPendingAsync();
        }

        return present.Length;
    }

    public Task<PartitionChanges> GetChanges(long sinceRevision)
    {
        if (sinceRevision == _revision)
        {
            return Task.FromResult(new PartitionChanges { FirstVoken = FirstVoken, Revision = _revision, BaseRevision = _revision, Levels = _depth, FineLevels = _fineLevels });
        }

        if (sinceRevision < _changesFrom || sinceRevision > _revision)
        {
            return Task.FromResult(Whole());
        }

        var touched = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (revision, ids) in _changes)
        {
            if (revision > sinceRevision)
            {
                touched.UnionWith(ids);
            }
        }

        var present = touched.Where(_entries.ContainsKey).ToArray();
        return Task.FromResult(new PartitionChanges
        {
            FirstVoken = FirstVoken,
            Revision = _revision,
            BaseRevision = sinceRevision,
            Levels = _depth,
            Ids = present,
            Vokens = present.SelectMany(id => _entries[id].Vokens).ToArray(),
            Uris = present.Select(id => _entries[id].Uri).ToArray(),
            FineLevels = _fineLevels,
            Fine = present.SelectMany(id => _entries[id].Fine).ToArray(),
            Removed = touched.Where(id => !_entries.ContainsKey(id)).ToArray(),
        });
    }

    public Task Watch(IPartitionChangeObserver observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        (_watchers ??= new ObserverManager<IPartitionChangeObserver>(PartitionCache.WatchExpiry, logger)).Subscribe(observer, observer);
        return Task.CompletedTask;
    }

    public Task<PartitionInfo> GetInfo() => Task.FromResult(new PartitionInfo { Images = _entries.Count, Revision = _revision });

    public Task<IndexedImage?> Find(string id) =>
        Task.FromResult(_entries.TryGetValue(id, out var entry) ? new IndexedImage { Id = id, Vokens = entry.Vokens, Uri = entry.Uri, Fine = entry.Fine } : null);

    public Task<IndexedImage[]> Neighbours(string id, int k)
    {
        var (run, trie, rowOf) = Built();
        if (!rowOf.TryGetValue(id, out var row))
        {
            return Task.FromResult(Array.Empty<IndexedImage>());
        }

        var nearest = PrefixNeighbours.Find(trie, run.RowVokens(row), row, k);
        return Task.FromResult(nearest.Select(n => new IndexedImage { Id = run.Ids[n], Vokens = run.RowVokens((int)n).ToArray(), Uri = run.Uris[n], Fine = run.RowFine((int)n).ToArray() }).ToArray());
    }

    /// <summary>
    /// After a failed write, reloads from storage (which may hold the record after all: a write whose answer was lost)
    /// before the next change; reads keep being answered from memory meanwhile. Caches holding an older revision then
    /// fetch the whole partition, and the catalog is told the revision reloaded.
    /// </summary>
    private async Task InStepAsync()
    {
        if (!_log.OutOfStep)
        {
            return;
        }

        await _log.ReplayAsync(IndexLogRecords.DecodePartition, Reset, Replay, r => r.Ids.Length + r.Removed.Length);
        _changesFrom = _revision;
        _reportPending = true;
    }

    private void Reset()
    {
        _entries.Clear();
        _changes.Clear();
        _changedIds = 0;
        _revision = 0;
        _built = null;
        _whole = null;
    }

    /// <summary>
    /// Stores the change, then applies it in memory, compacts when due, and reports to the catalog. A failed write
    /// leaves memory as it was (see <see cref="InStepAsync"/>): the caller gets the error and may send the batch again.
    /// </summary>
    private async Task CommitAsync(PartitionRecord record)
    {
        await _log.AppendAsync(IndexLogRecords.EncodePartition(record, asBase: false), record.Ids.Length + record.Removed.Length);
        Replay(record);
        _changes.Enqueue((record.Revision, [.. record.Ids, .. record.Removed]));
        _changedIds += record.Ids.Length + record.Removed.Length;
        Push(record);
        while (_changes.Count > 0 && _changedIds > Math.Max(ChangeListMinimum, _entries.Count / 2))
        {
            // Older changes are dropped once they outweigh half the partition (and ChangeListMinimum ids): a cache that
            // far behind fetches it whole. Bounded apart from compaction's threshold (4,096 records by default), which
            // kept up to 4,096 ids here for a partition of a few hundred images: memory that grew with churn.
            var (revision, ids) = _changes.Dequeue();
            _changedIds -= ids.Length;
            _changesFrom = revision;
        }

        // The base is the whole partition: encoded at ingest priority, read while this grain awaits (no turn writes meanwhile).
        if (await _log.CompactIfDueAsync(_entries.Count, () => lowPriority.RunAsync(() => IndexLogRecords.EncodePartition(WholeRecord(), asBase: true)))
            is { } compactionFailure)
        {
            // The change itself is stored; the stored record count is unknown: the partition reloads before its next change.
            Log.CompactionFailed(logger, FirstVoken, compactionFailure.Message);
        }

        _reportPending = true;
        await ReportIfPendingAsync();
    }

    private async Task ReportIfPendingAsync()
    {
        if (!_reportPending)
        {
            return;
        }

        await GrainFactory.GetGrain<IIndexCatalogGrain>(IndexVersion).Report(FirstVoken, _entries.Count, _revision);
        _reportPending = false;
    }

    /// <summary>Sends the change just applied to the watching caches, one-way: the delta from the revision before it.</summary>
    private void Push(PartitionRecord record)
    {
        if (_watchers is not { Count: > 0 } watchers)
        {
            return;
        }

        var changes = new PartitionChanges
        {
            FirstVoken = FirstVoken,
            Revision = record.Revision,
            BaseRevision = record.Revision - 1,
            Levels = _depth,
            Ids = record.Ids,
            Vokens = record.Vokens,
            Uris = record.Uris,
            Removed = record.Removed,
            FineLevels = _fineLevels,
            Fine = record.Fine,
        };
        var version = IndexVersion;
        watchers.Notify(observer => { _ = observer.Changed(version, changes); });
    }

    private void Replay(PartitionRecord record)
    {
        for (var i = 0; i < record.Ids.Length; i++)
        {
            _entries[record.Ids[i]] = (record.Vokens.AsSpan(i * record.Levels, record.Levels).ToArray(), record.Uris[i], record.Fine.AsSpan(i * record.FineLevels, record.FineLevels).ToArray());
        }

        foreach (var id in record.Removed)
        {
            _entries.Remove(id);
        }

        if (record.Levels > 0)
        {
            _depth = record.Levels;
        }

        if (record.Ids.Length > 0)
        {
            _fineLevels = record.FineLevels;
        }

        _revision = record.Revision;
        _built = null;
        _whole = null;
    }

    private PartitionRecord WholeRecord()
    {
        var ids = _entries.Keys.ToArray();
        return new PartitionRecord(_revision, _depth, ids, ids.SelectMany(id => _entries[id].Vokens).ToArray(), ids.Select(id => _entries[id].Uri).ToArray(), [], _fineLevels, ids.SelectMany(id => _entries[id].Fine).ToArray());
    }

    private PartitionChanges Whole()
    {
        if (_whole is null)
        {
            var run = Built().Run;
            _whole = new PartitionChanges { FirstVoken = FirstVoken, Revision = _revision, BaseRevision = -1, Levels = _depth, Ids = run.Ids, Vokens = run.Vokens, Uris = run.Uris, FineLevels = run.FineLevels, Fine = run.Fine };
        }

        return _whole;
    }

    private (PartitionRun Run, VokenTrie Trie, Dictionary<string, int> RowOf) Built()
    {
        if (_built is null)
        {
            var depth = Math.Max(1, _depth);
            var record = WholeRecord();
            var run = PartitionRun.Build(depth, record.Ids, record.Vokens, record.Uris, record.FineLevels, record.Fine);
            var rowOf = new Dictionary<string, int>(run.Count, StringComparer.Ordinal);
            for (var i = 0; i < run.Count; i++)
            {
                rowOf[run.Ids[i]] = i;
            }

            _built = (run, run.ToTrie(Math.Max(_codebookSize, run.Count == 0 ? FirstVoken + 1 : run.Vokens.Max() + 1)), rowOf);
        }

        return _built.Value;
    }

    private static partial class Log
    {
        [LoggerMessage(10, LogLevel.Debug, "Partition {FirstVoken} restored {Images} images from storage (revision {Revision}, {Records} change records after the base)")]
        public static partial void Restored(ILogger logger, int firstVoken, int images, long revision, int records);

        [LoggerMessage(11, LogLevel.Warning, "Partition {FirstVoken} stored its change but not its compaction ({Reason}); it reloads from storage before its next change")]
        public static partial void CompactionFailed(ILogger logger, int firstVoken, string reason);
    }
}
