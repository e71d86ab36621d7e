using Avg.Cluster.Hosting;
using Avg.Cluster.Model;
using Avg.Cluster.Placement;
using Avg.Cluster.Storage;
using Microsoft.Extensions.Options;

namespace Avg.Cluster.Grains;

/// <summary>
/// One bucket of the image directory (key: bucket; extension: index version): which partition holds an id. Each
/// assign or move stores one record of the ids whose partition changed, so writes are proportional to the batch; the
/// stored log is compacted like a partition's.
/// </summary>
[PartitionSiloPlacementFilter]
public sealed class ImageDirectoryGrain(IIndexLogStore store, LowPriorityWork lowPriority, IOptions<AvgSiloOptions> options) : Grain, IImageDirectoryGrain
{
    private readonly Dictionary<string, int> _partitions = new(StringComparer.Ordinal);
    private CompactingLog _log = null!;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var bucket = (int)this.GetPrimaryKeyLong(out var version);
        var key = IndexLogKeys.DirectoryBucket(version ?? "", bucket);
        _log = new CompactingLog(store, key, options.Value.CompactionMinimum);
        await _log.ReplayAsync(IndexLogRecords.DecodeDirectory, () => { }, Apply, entries => entries.Length);
    }

    public async Task<int[]> Assign(string[] ids, int[] partitions, CancellationToken cancellationToken = default)
    {
        CheckPairs(ids, partitions);
        await InStepAsync();
        cancellationToken.ThrowIfCancellationRequested();

        // Each id's partition before this call. Only new ids are recorded here: an id held elsewhere is moved by
        // Move once its old partition no longer holds it, so a batch retried after a failure still sees the move.
        var previous = new int[ids.Length];
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < ids.Length; i++)
        {
            if (added.TryGetValue(ids[i], out var p) || _partitions.TryGetValue(ids[i], out p))
            {
                previous[i] = p;
            }
            else
            {
                previous[i] = -1;
                added[ids[i]] = partitions[i];
            }
        }

        await CommitAsync(added.Select(e => (e.Key, e.Value)).ToArray());
        return previous;
    }

    public async Task Move(string[] ids, int[] partitions, CancellationToken cancellationToken = default)
    {
        CheckPairs(ids, partitions);
        await InStepAsync();
        cancellationToken.ThrowIfCancellationRequested();
        var latest = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < ids.Length; i++)
        {
            latest[ids[i]] = partitions[i];
        }

        await CommitAsync(latest.Where(e => !_partitions.TryGetValue(e.Key, out var p) || p != e.Value).Select(e => (e.Key, e.Value)).ToArray());
    }

    public Task<int> Lookup(string id) => Task.FromResult(_partitions.TryGetValue(id, out var p) ? p : -1);

    public async Task<int> Remove(string id)
    {
        await InStepAsync();
        if (!_partitions.TryGetValue(id, out var p))
        {
            return -1;
        }

        await CommitAsync([(id, -1)]);
        return p;
    }

    private static void CheckPairs(string[] ids, int[] partitions)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(partitions);
        if (ids.Length != partitions.Length)
        {
            throw new AvgException($"The directory got {ids.Length} ids but {partitions.Length} partitions.");
        }
    }

    /// <summary>After a failed write, reloads from storage before the next change (reads keep being answered from memory meanwhile).</summary>
    private async Task InStepAsync()
    {
        if (_log.OutOfStep)
        {
            await _log.ReplayAsync(IndexLogRecords.DecodeDirectory, _partitions.Clear, Apply, entries => entries.Length);
        }
    }

    /// <summary>Stores the changes, then applies them; a failed write leaves memory as it was (see <see cref="InStepAsync"/>).</summary>
    private async Task CommitAsync((string Id, int Partition)[] changes)
    {
        if (changes.Length == 0)
        {
            return;
        }

        await _log.AppendAsync(IndexLogRecords.EncodeDirectory(changes, asBase: false), changes.Length);
        Apply(changes);

        // A failed compaction loses nothing (the records stored describe the same state); the bucket reloads before its next change.
        await _log.CompactIfDueAsync(_partitions.Count, () => lowPriority.RunAsync(() => IndexLogRecords.EncodeDirectory(_partitions.Select(e => (e.Key, e.Value)).ToArray(), asBase: true)));
    }

    private void Apply((string Id, int Partition)[] entries)
    {
        foreach (var (id, partition) in entries)
        {
            if (partition < 0)
            {
                _partitions.Remove(id);
            }
            else
            {
                _partitions[id] = partition;
            }
        }
    }
}
