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
public interface IIndexLogStore
{
    Task<StoredLog> ReadAsync(string key);

    /// <summary>Appends one change record after the ones already stored.</summary>
    Task AppendAsync(string key, byte[] record);

    /// <summary>Replaces the base with <paramref name="newBase"/> and drops the first <paramref name="changesCovered"/> change records, atomically.</summary>
    Task CompactAsync(string key, byte[] newBase, int changesCovered);

}

/// <summary>Storage keys of the index logs.</summary>
public static class IndexLogKeys
{
    public static string Partition(string indexVersion, int firstVoken) => $"avg:{indexVersion}:partition:{firstVoken}";

    public static string DirectoryBucket(string indexVersion, int bucket) => $"avg:{indexVersion}:directory:{bucket}";
}
