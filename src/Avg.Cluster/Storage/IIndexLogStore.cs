namespace Avg.Cluster.Storage;

/// <summary>
/// A stored log of one partition or directory bucket: an optional base record (the whole state at some revision)
/// followed by the change records appended since, oldest first.
/// </summary>
public sealed record StoredLog(byte[]? Base, IReadOnlyList<byte[]> Changes)
{
    public static StoredLog None { get; } = new(null, []);
}

/// <summary>
/// Where partitions and directory buckets persist (docs/cluster.md, "Incremental partitions"): each change appends one
/// record proportional to the change, and compaction now and then replaces the base and drops the records it
/// covers, so storage writes per image are amortised O(1) however large the partition grows. Redis in a cluster
/// (<c>RPUSH</c> of the record; base and trim in one transaction), a grain in the embedded single-process cluster.
/// </summary>
/// <remarks>
/// Writes are fenced by the number of change records the writer knows of: a write that finds another count stored
/// (a second activation of the same grain during a membership change, or an earlier write whose answer was lost
/// although it was stored) stores nothing and throws <see cref="IndexLogConflictException"/>, and the writer reloads
/// from storage. So two writers never interleave records, and compaction never drops a record its writer did not apply.
/// </remarks>
public interface IIndexLogStore
{
    Task<StoredLog> ReadAsync(string key);

    /// <summary>Appends one change record, if exactly <paramref name="expectedChanges"/> change records are stored after the base.</summary>
    /// <exception cref="IndexLogConflictException">Another number is stored; nothing was appended.</exception>
    /// <exception cref="IndexStorageUnavailableException">The storage did not answer; the record may or may not be stored.</exception>
    Task AppendAsync(string key, byte[] record, int expectedChanges);

    /// <summary>
    /// Replaces the base with <paramref name="newBase"/> and drops the <paramref name="changesCovered"/> change records,
    /// atomically, if exactly that many are stored.
    /// </summary>
    /// <exception cref="IndexLogConflictException">Another number is stored; nothing changed.</exception>
    Task CompactAsync(string key, byte[] newBase, int changesCovered);
}

/// <summary>A fenced write found a different number of stored change records than its writer applied (see <see cref="IIndexLogStore"/>).</summary>
public sealed class IndexLogConflictException : AvgException
{
    public IndexLogConflictException(string key, int expected, long stored)
        : base(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"Index log {key} holds {stored} change records where this writer applied {expected}: another writer or an unacknowledged write stored one. Nothing was written; the grain reloads from storage, retry.")) { }

    public IndexLogConflictException() { }

    public IndexLogConflictException(string message) : base(message) { }

    public IndexLogConflictException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Storage keys of the index logs.</summary>
public static class IndexLogKeys
{
    public static string Partition(string indexVersion, int firstVoken) => $"avg:{indexVersion}:partition:{firstVoken}";

    public static string DirectoryBucket(string indexVersion, int bucket) => $"avg:{indexVersion}:directory:{bucket}";
}
