using Orleans.Concurrency;
using Orleans.Placement;

namespace Avg.Cluster.Storage;

/// <summary>The index log store of a cluster without Redis (the embedded silo, in-process test clusters): one grain per log, in memory.</summary>
internal sealed class GrainIndexLogStore(IGrainFactory grains) : IIndexLogStore
{
    public async Task<StoredLog> ReadAsync(string key)
    {
        var (baseRecord, changes) = await grains.GetGrain<IIndexLogGrain>(key).Read().ConfigureAwait(false);
        return new StoredLog(baseRecord, changes);
    }

    public Task AppendAsync(string key, byte[] record, int expectedChanges) => grains.GetGrain<IIndexLogGrain>(key).Append(record, expectedChanges);

    public Task CompactAsync(string key, byte[] newBase, int changesCovered) => grains.GetGrain<IIndexLogGrain>(key).Compact(newBase, changesCovered);
}

/// <summary>One in-memory index log (key: the log's storage key).</summary>
public interface IIndexLogGrain : IGrainWithStringKey
{
    [ReadOnly]
    Task<(byte[]? Base, byte[][] Changes)> Read();

    /// <summary>Appends, if exactly <paramref name="expectedChanges"/> records are held (see <see cref="IIndexLogStore"/>).</summary>
    Task Append(byte[] record, int expectedChanges);

    /// <summary>Replaces the base and drops every record, if exactly <paramref name="changesCovered"/> are held.</summary>
    Task Compact(byte[] newBase, int changesCovered);
}

[PreferLocalPlacement]
internal sealed class IndexLogGrain : Grain, IIndexLogGrain
{
    private readonly List<byte[]> _changes = [];
    private byte[]? _base;

    public Task<(byte[]? Base, byte[][] Changes)> Read() => Task.FromResult((_base, _changes.ToArray()));

    public Task Append(byte[] record, int expectedChanges)
    {
        if (_changes.Count != expectedChanges)
        {
            throw new IndexLogConflictException(this.GetPrimaryKeyString(), expectedChanges, _changes.Count);
        }

        _changes.Add(record);
        return Task.CompletedTask;
    }

    public Task Compact(byte[] newBase, int changesCovered)
    {
        if (_changes.Count != changesCovered)
        {
            throw new IndexLogConflictException(this.GetPrimaryKeyString(), changesCovered, _changes.Count);
        }

        _base = newBase;
        _changes.Clear();
        return Task.CompletedTask;
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Memory only: the log must outlive its idle partition, so it is never collected for idleness.
        DelayDeactivation(TimeSpan.FromDays(3650));
        return Task.CompletedTask;
    }
}
