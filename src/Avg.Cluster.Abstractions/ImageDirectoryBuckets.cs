namespace Avg.Cluster;

/// <summary>How image ids are spread over <see cref="IImageDirectoryGrain"/> buckets (stable across processes).</summary>
public static class ImageDirectoryBuckets
{
    /// <summary>Buckets per index: enough to spread directory writes, few enough that a batch touches each once.</summary>
    public const int Count = 32;

    /// <summary>FNV-1a over the id's UTF-16 code units (string.GetHashCode is randomised per process).</summary>
    public static int Of(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        var hash = 2166136261u;
        foreach (var c in id)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return (int)(hash % Count);
    }
}
