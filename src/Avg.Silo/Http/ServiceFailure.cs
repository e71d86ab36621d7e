using Avg.Cluster.Storage;
using Microsoft.AspNetCore.Http;
using Orleans.Serialization;
using Orleans.Storage;
using StackExchange.Redis;

namespace Avg.Silo.Http;

/// <summary>
/// What a request that failed inside the cluster answers: 503 with <c>Retry-After</c> for everything a retry can
/// cure (the index storage unreachable, a silo lost or recovering, a grain call timed out, the model host not ready),
/// 400 for a request a grain refused (<see cref="InvalidRequestException"/>: a rule the HTTP checks did not catch first),
/// 500 for the rest; always problem+json with a message, never a stack trace.
/// </summary>
public sealed record ServiceFailure(int Status, string Title, string Detail, int? RetryAfterSeconds)
{
    /// <summary>Seconds a client should wait after the index storage failed: Redis restarts and reconnects take a few.</summary>
    public const int StorageRetryAfterSeconds = 2;

    /// <summary>Seconds a client should wait while the cluster recovers (a silo lost, a grain reactivating).</summary>
    public const int RecoveringRetryAfterSeconds = 1;

    public static ServiceFailure Classify(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var chain = Chain(exception).ToArray();
        if (chain.OfType<IndexStorageUnavailableException>().FirstOrDefault() is { } storage)
        {
            return Storage(storage.Message);
        }

        if (chain.FirstOrDefault(IsRedis) is { } redis)
        {
            return Storage($"The index storage (Redis) is unreachable ({RedisTypeName(redis)}: {redis.Message.Split(';', 2)[0]}). Nothing of this request was acknowledged; retry in a few seconds.");
        }

        if (chain.FirstOrDefault(e => e is IndexLogConflictException or InconsistentStateException) is { } conflict)
        {
            return new(StatusCodes.Status503ServiceUnavailable, "The index is reloading; retry", conflict.Message, RecoveringRetryAfterSeconds);
        }

        if (chain.FirstOrDefault(e => e is TimeoutException or SiloUnavailableException or OrleansMessageRejectionException) is { } recovering)
        {
            return new(StatusCodes.Status503ServiceUnavailable, "The cluster is recovering; retry", recovering.Message, RecoveringRetryAfterSeconds);
        }

        if (chain.FirstOrDefault(e => e is OrleansException && e.Message.Contains("No active nodes are compatible", StringComparison.Ordinal)) is { } noSilo)
        {
            // No silo with the role a grain needs is active (starting, or all lost).
            return new(StatusCodes.Status503ServiceUnavailable, "No silo can serve this request now; retry", noSilo.Message, RecoveringRetryAfterSeconds);
        }

        if (chain.OfType<InvalidRequestException>().FirstOrDefault() is { } request)
        {
            // The caller's to change (a grain-boundary rule the HTTP checks did not catch first): not retried.
            return new(StatusCodes.Status400BadRequest, "The request is not valid", request.Message, null);
        }

        if (chain.OfType<AvgException>().FirstOrDefault() is { } avg)
        {
            return new(StatusCodes.Status503ServiceUnavailable, "The cluster cannot serve this request", avg.Message, RecoveringRetryAfterSeconds);
        }

        return new(StatusCodes.Status500InternalServerError, "Internal error", $"{exception.GetType().Name}: {exception.Message}", null);
    }

    private static ServiceFailure Storage(string detail) =>
        new(StatusCodes.Status503ServiceUnavailable, "The index storage is unavailable; retry", detail, StorageRetryAfterSeconds);

    /// <summary>A StackExchange.Redis failure, thrown here or in a grain on another silo (then possibly as a fallback naming its type).</summary>
    private static bool IsRedis(Exception e) =>
        e is RedisException || RedisTypeName(e).StartsWith("StackExchange.Redis", StringComparison.Ordinal)
        || e.GetType().Name.Contains("Redis", StringComparison.Ordinal);

    private static string RedisTypeName(Exception e) => e is UnavailableExceptionFallbackException fallback ? fallback.ExceptionType ?? "" : e.GetType().FullName ?? "";

    private static IEnumerable<Exception> Chain(Exception exception)
    {
        var pending = new Stack<Exception>([exception]);
        while (pending.Count > 0)
        {
            var e = pending.Pop();
            yield return e;
            if (e is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    pending.Push(inner);
                }
            }
            else if (e.InnerException is { } inner)
            {
                pending.Push(inner);
            }
        }
    }
}
