namespace Avg.Cluster.Storage;

/// <summary>
/// The write side of one stored index log: appends change records and, once the records since the base name at
/// least <c>max(minimum, held / 2)</c> images, writes a new base of the whole state and drops them. A base costs
/// O(held), written after at least held/2 changed images: amortised O(1) storage work per image.
/// </summary>
internal sealed class CompactingLog(IIndexLogStore store, string key, int minimum)
{
    private int _records;
    private long _imagesSinceBase;

    public string Key => key;

    /// <summary>Base and change records as stored (call once, on activation).</summary>
    public async Task<StoredLog> ReadAsync()
    {
        var log = await store.ReadAsync(key).ConfigureAwait(false);
        _records = log.Changes.Count;
        return log;
    }

    /// <summary>Counts replayed records' images (after <see cref="ReadAsync"/>), so compaction resumes where it was.</summary>
    public void Replayed(int images) => _imagesSinceBase += images;

    /// <summary>Stores one change record naming <paramref name="images"/> images (before the holder applies it in memory).</summary>
    public async Task AppendAsync(byte[] record, int images)
    {
        await store.AppendAsync(key, record).ConfigureAwait(false);
        _records++;
        _imagesSinceBase += images;
    }

    /// <summary>Writes a base made by <paramref name="makeBase"/> (the whole state, <paramref name="held"/> images) when compaction is due.</summary>
    public async Task CompactIfDueAsync(int held, Func<byte[]> makeBase)
    {
        if (_records == 0 || _imagesSinceBase < Math.Max(minimum, held / 2))
        {
            return;
        }

        await store.CompactAsync(key, makeBase(), _records).ConfigureAwait(false);
        _records = 0;
        _imagesSinceBase = 0;
        Compactions++;
    }

    /// <summary>Bases written by this activation.</summary>
    public int Compactions { get; private set; }
}
