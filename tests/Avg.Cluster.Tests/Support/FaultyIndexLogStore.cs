using System.Collections.Concurrent;
using Avg.Cluster.Storage;

namespace Avg.Cluster.Tests.Support;

/// <summary>
/// An index log store that fails the writes a test names, once each: before storing (nothing written) or after
/// storing (the record is written but the writer sees a failure, as when Redis dies before it answers).
/// </summary>
public sealed class FaultyIndexLogStore(IIndexLogStore inner) : IIndexLogStore
{
    private readonly ConcurrentQueue<(string KeySuffix, bool AfterStoring)> _appendFaults = new();

    /// <summary>Faults armed and not yet hit.</summary>
    public int Pending => _appendFaults.Count;

    /// <summary>The next append to a key ending in <paramref name="keySuffix"/> fails (once).</summary>
    public void FailNextAppend(string keySuffix, bool afterStoring = false) => _appendFaults.Enqueue((keySuffix, afterStoring));

    public Task<StoredLog> ReadAsync(string key) => inner.ReadAsync(key);

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
