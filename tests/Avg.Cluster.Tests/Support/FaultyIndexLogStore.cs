using System.Collections.Concurrent;
using Avg.Cluster.Storage;

namespace Avg.Cluster.Tests.Support;

/// <summary>
/// An index log store that fails the writes a test names, once each: before storing (nothing written) or after
/// storing (the record is written but the writer sees a failure, as when Redis dies before it answers); and that
/// holds the reads of chosen keys until released (a grain activating from it then hangs, as on a stopped silo).
/// </summary>
public sealed class FaultyIndexLogStore(IIndexLogStore inner) : IIndexLogStore
{
    private readonly ConcurrentQueue<(string KeySuffix, bool AfterStoring)> _appendFaults = new();
    private readonly Lock _gate = new();
    private Func<string, bool> _held = _ => false;
    private TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Reads of keys <paramref name="held"/> accepts wait until <see cref="ReleaseReads"/>.</summary>
    public void HoldReads(Func<string, bool> held)
    {
        lock (_gate)
        {
            _held = held;
        }
    }

    /// <summary>Lets every held read go on; later reads are not held.</summary>
    public void ReleaseReads()
    {
        lock (_gate)
        {
            _held = _ => false;
            _release.TrySetResult();
            _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>Faults armed and not yet hit.</summary>
    public int Pending => _appendFaults.Count;

    /// <summary>The next append to a key ending in <paramref name="keySuffix"/> fails (once).</summary>
    public void FailNextAppend(string keySuffix, bool afterStoring = false) => _appendFaults.Enqueue((keySuffix, afterStoring));

    public async Task<StoredLog> ReadAsync(string key)
    {
        Task? wait = null;
        lock (_gate)
        {
            if (_held(key))
            {
                wait = _release.Task;
            }
        }

        if (wait is not null)
        {
            await wait;
        }

        return await inner.ReadAsync(key);
    }

    public async Task AppendAsync(string key, byte[] record, int expectedChanges)
    {
        if (_appendFaults.TryPeek(out var fault) && key.EndsWith(fault.KeySuffix, StringComparison.Ordinal) && _appendFaults.TryDequeue(out _))
        {
            if (fault.AfterStoring)
            {
                await inner.AppendAsync(key, record, expectedChanges);
            }

            throw new IndexStorageUnavailableException($"Injected fault: appending to {key} {(fault.AfterStoring ? "was stored but not answered" : "failed")}.");
        }

        await inner.AppendAsync(key, record, expectedChanges);
    }

    public Task CompactAsync(string key, byte[] newBase, int changesCovered) => inner.CompactAsync(key, newBase, changesCovered);
}
