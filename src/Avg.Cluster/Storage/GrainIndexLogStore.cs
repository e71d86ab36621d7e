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

    public Task AppendAsync(string key, byte[] record) => grains.GetGrain<IIndexLogGrain>(key).Append(record);

    public Task CompactAsync(string key, byte[] newBase, int changesCovered) => grains.GetGrain<IIndexLogGrain>(key).Compact(newBase, changesCovered);
}

/// <summary>One in-memory index log (key: the log's storage key).</summary>
public interface IIndexLogGrain : IGrainWithStringKey
{
    [ReadOnly]
    Task<(byte[]? Base, byte[][] Changes)> Read();

    Task Append(byte[] record);

    Task Compact(byte[] newBase, int changesCovered);
}

[PreferLocalPlacement]
internal sealed class IndexLogGrain : Grain, IIndexLogGrain
{
    private readonly List<byte[]> _changes = [];
    private byte[]? _base;

    public Task<(byte[]? Base, byte[][] Changes)> Read() => Task.FromResult((_base, _changes.ToArray()));

    public Task Append(byte[] record)
    {
        _changes.Add(record);
        return Task.CompletedTask;
    }

    public Task Compact(byte[] newBase, int changesCovered)
    {
        _base = newBase;
        _changes.RemoveRange(0, Math.Min(changesCovered, _changes.Count));
        return Task.CompletedTask;
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Memory only: the log must outlive its idle partition, so it is never collected for idleness.
        DelayDeactivation(TimeSpan.FromDays(3650));
        return Task.CompletedTask;
    }
}
