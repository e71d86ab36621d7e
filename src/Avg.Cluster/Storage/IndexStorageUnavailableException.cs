namespace Avg.Cluster.Storage;

/// <summary>
/// The index storage (Redis) could not be reached or did not answer in time. The change it belongs to was not
/// acknowledged (memory keeps what storage had before it); callers answer 503 with <c>Retry-After</c>, and a retry
/// of the same request is safe. Carries no inner exception, so it crosses silos whatever the storage client threw.
/// </summary>
public sealed class IndexStorageUnavailableException : AvgException
{
    public IndexStorageUnavailableException(string message) : base(message) { }

    public IndexStorageUnavailableException() : base("The index storage is unreachable; retry in a few seconds.") { }

    public IndexStorageUnavailableException(string message, Exception inner) : base(message, inner) { }

    /// <summary>The message for a failed <paramref name="operation"/> on <paramref name="key"/>, naming the storage client's reason.</summary>
    public static IndexStorageUnavailableException For(string operation, string key, Exception reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        var why = reason.Message.Split(';', 2)[0];
        return new($"The index storage (Redis) is unreachable: {operation} {key} failed ({reason.GetType().Name}: {why}). Nothing of this change was acknowledged; retry in a few seconds.");
    }
}
