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

    /// <summary>
    /// Reads the stored log (once, on activation) and hands its records to <paramref name="apply"/>, base first; the
    /// change records' images are counted so compaction resumes where it was. Returns how many change records there were.
    /// </summary>
    public async Task<int> ReplayAsync<T>(Func<byte[], string, T> decode, Action<T> apply, Func<T, int> images)
    {
        // No ConfigureAwait(false): apply changes grain state, so it runs in the calling grain's context.
        var log = await store.ReadAsync(key);
        _records = log.Changes.Count;
        if (log.Base is { } baseRecord)
        {
            apply(decode(baseRecord, key));
        }

        foreach (var change in log.Changes)
        {
            var record = decode(change, key);
            apply(record);
            _imagesSinceBase += images(record);
        }

        return log.Changes.Count;
    }

    /// <summary>Stores one change record naming <paramref name="images"/> images (before the holder applies it in memory).</summary>
    public async Task AppendAsync(byte[] record, int images)
    {
        await store.AppendAsync(key, record).ConfigureAwait(false);
        _records++;
        _imagesSinceBase += images;
    }

    /// <summary>Writes a base made by <paramref name="makeBase"/> (the whole state, <paramref name="held"/> images) when compaction is due.</summary>
    public async Task CompactIfDueAsync(int held, Func<Task<byte[]>> makeBase)
    {
        if (_records == 0 || _imagesSinceBase < Math.Max(minimum, held / 2))
        {
            return;
        }

        await store.CompactAsync(key, await makeBase().ConfigureAwait(false), _records).ConfigureAwait(false);
        _records = 0;
        _imagesSinceBase = 0;
    }
}
