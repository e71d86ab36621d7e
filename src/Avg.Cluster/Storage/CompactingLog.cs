namespace Avg.Cluster.Storage;

/// <summary>
/// The write side of one stored index log: appends change records and, once the records since the base name at
/// least <c>max(minimum, held / 2)</c> images, writes a new base of the whole state and drops them. A base costs
/// O(held), written after at least held/2 changed images: amortised O(1) storage work per image. Every write is
/// fenced by the number of records this writer knows are stored (<see cref="IIndexLogStore"/>).
/// </summary>
internal sealed class CompactingLog(IIndexLogStore store, string key, int minimum)
{
    private int _records;
    private long _imagesSinceBase;

    /// <summary>
    /// True once a write failed: storage may hold a record the holder's memory lacks (its answer was lost), or another
    /// writer appended. The holder keeps answering reads from memory and reloads (<see cref="ReplayAsync{T}"/>)
    /// before its next write; until then writes throw.
    /// </summary>
    public bool OutOfStep { get; private set; }

    /// <summary>
    /// Reads the stored log (on activation, and to reload when <see cref="OutOfStep"/>), then, once the read has
    /// succeeded, calls <paramref name="reset"/> and hands the records to <paramref name="apply"/>, base first; the
    /// change records' images are counted so compaction resumes where it was. Returns how many change records there
    /// were. A failed read changes nothing.
    /// </summary>
    public async Task<int> ReplayAsync<T>(Func<byte[], string, T> decode, Action reset, Action<T> apply, Func<T, int> images)
    {
        ArgumentNullException.ThrowIfNull(reset);
        // No ConfigureAwait(false): apply changes grain state, so it runs in the calling grain's context.
        var log = await store.ReadAsync(key);
        var records = log.Changes.Select(c => decode(c, key)).ToArray();
        var baseRecord = log.Base is { } stored ? decode(stored, key) : default;
        reset();
        _records = records.Length;
        _imagesSinceBase = 0;
        if (log.Base is not null)
        {
            apply(baseRecord!);
        }

        foreach (var record in records)
        {
            apply(record);
            _imagesSinceBase += images(record);
        }

        OutOfStep = false;
        return records.Length;
    }

    /// <summary>Stores one change record naming <paramref name="images"/> images (before the holder applies it in memory).</summary>
    /// <exception cref="IndexStorageUnavailableException">Storage did not answer (the record may be stored); <see cref="OutOfStep"/> is set.</exception>
    /// <exception cref="IndexLogConflictException">Storage holds records this writer did not write; <see cref="OutOfStep"/> is set.</exception>
    public async Task AppendAsync(byte[] record, int images)
    {
        ThrowIfOutOfStep();
        try
        {
            await store.AppendAsync(key, record, _records).ConfigureAwait(false);
        }
        catch
        {
            OutOfStep = true;
            throw;
        }

        _records++;
        _imagesSinceBase += images;
    }

    /// <summary>
    /// Writes a base made by <paramref name="makeBase"/> (the whole state, <paramref name="held"/> images) when compaction
    /// is due. Returns the failure instead of throwing: the change records already stored describe the same state, so
    /// a failed compaction loses nothing (<see cref="OutOfStep"/> is set, as the stored count is then unknown).
    /// </summary>
    public async Task<Exception?> CompactIfDueAsync(int held, Func<Task<byte[]>> makeBase)
    {
        if (OutOfStep || _records == 0 || _imagesSinceBase < Math.Max(minimum, held / 2))
        {
            return null;
        }

        try
        {
            await store.CompactAsync(key, await makeBase().ConfigureAwait(false), _records).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IndexStorageUnavailableException or IndexLogConflictException)
        {
            OutOfStep = true;
            return e;
        }

        _records = 0;
        _imagesSinceBase = 0;
        return null;
    }

    private void ThrowIfOutOfStep()
    {
        if (OutOfStep)
        {
            throw new IndexStorageUnavailableException($"Index log {key} is reloading after a failed write; retry in a moment.");
        }
    }
}
