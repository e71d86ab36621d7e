using Avg.Cluster.Hosting;
using Avg.Cluster.Model;
using Avg.Cluster.Placement;
using Avg.Cluster.Storage;
using Microsoft.Extensions.Options;

namespace Avg.Cluster.Grains;

/// <summary>
/// One bucket of the image directory (key: bucket; extension: index version): which partition holds an id. Each
/// assign stores one record of the ids whose partition changed, so writes are proportional to the batch; the
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
        await _log.ReplayAsync(IndexLogRecords.DecodeDirectory, Apply, entries => entries.Length);
    }

    public async Task<int[]> Assign(string[] ids, int[] partitions)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(partitions);
        if (ids.Length != partitions.Length)
        {
            throw new AvgException($"Assign got {ids.Length} ids but {partitions.Length} partitions.");
        }

        // Each id's partition before this batch (an id given twice: its earlier entry in the batch counts).
        var previous = new int[ids.Length];
        var latest = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < ids.Length; i++)
        {
            previous[i] = latest.TryGetValue(ids[i], out var p) || _partitions.TryGetValue(ids[i], out p) ? p : -1;
            latest[ids[i]] = partitions[i];
        }

        var changes = latest.Where(e => !_partitions.TryGetValue(e.Key, out var p) || p != e.Value).Select(e => (e.Key, e.Value)).ToArray();
        await CommitAsync(changes);
        return previous;
    }

    public Task<int> Lookup(string id) => Task.FromResult(_partitions.TryGetValue(id, out var p) ? p : -1);

    public async Task<int> Remove(string id)
    {
        if (!_partitions.TryGetValue(id, out var p))
        {
            return -1;
        }

        await CommitAsync([(id, -1)]);
        return p;
    }

    private async Task CommitAsync((string Id, int Partition)[] changes)
    {
        if (changes.Length == 0)
        {
            return;
        }

        await _log.AppendAsync(IndexLogRecords.EncodeDirectory(changes, asBase: false), changes.Length);
        Apply(changes);
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
