using Avg.Cluster.Storage;
using StackExchange.Redis;

namespace Avg.Silo;

/// <summary>
/// Index logs in Redis: the base at <c>KEY:base</c> (a string), change records at <c>KEY:log</c> (a list, one
/// <c>RPUSH</c> per change, by a script that pushes only when the list has the length the writer expects); compaction
/// sets the base and empties the list in one transaction, under the same condition. Redis failures become
/// <see cref="IndexStorageUnavailableException"/> (503 + <c>Retry-After</c> at the HTTP API). While Redis is
/// unreachable, commands fail at once rather than queue (<see cref="BacklogPolicy.FailFast"/>).
/// </summary>
internal sealed class RedisIndexLogStore : IIndexLogStore, IDisposable
{
    /// <summary>KEYS[1] the list, ARGV[1] the expected length, ARGV[2] the record: the new length, or −1 − the length found.</summary>
    private const string FencedPush =
        "local n = redis.call('LLEN', KEYS[1]) if n == tonumber(ARGV[1]) then return redis.call('RPUSH', KEYS[1], ARGV[2]) end return -1 - n";

    private readonly Lazy<Task<ConnectionMultiplexer>> _connection;

    public RedisIndexLogStore(ConfigurationOptions configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = configuration.Clone();
        options.BacklogPolicy = BacklogPolicy.FailFast;
        _connection = new(() => ConnectionMultiplexer.ConnectAsync(options));
    }

    public async Task<StoredLog> ReadAsync(string key)
    {
        try
        {
            var db = await Database().ConfigureAwait(false);
            var batch = db.CreateBatch();
            var baseTask = batch.StringGetAsync(BaseKey(key));
            var changesTask = batch.ListRangeAsync(LogKey(key));
            batch.Execute();
            var (baseValue, changes) = (await baseTask.ConfigureAwait(false), await changesTask.ConfigureAwait(false));
            return new StoredLog(baseValue.IsNull ? null : (byte[])baseValue!, changes.Select(c => (byte[])c!).ToArray());
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            throw IndexStorageUnavailableException.For("reading", key, e);
        }
    }

    public async Task AppendAsync(string key, byte[] record, int expectedChanges)
    {
        RedisResult result;
        try
        {
            var db = await Database().ConfigureAwait(false);
            result = await db.ScriptEvaluateAsync(FencedPush, [LogKey(key)], [expectedChanges, record]).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            throw IndexStorageUnavailableException.For("appending to", key, e);
        }

        var length = (long)result;
        if (length < 0)
        {
            throw new IndexLogConflictException(key, expectedChanges, -1 - length);
        }
    }

    public async Task CompactAsync(string key, byte[] newBase, int changesCovered)
    {
        bool committed;
        long stored;
        try
        {
            var db = await Database().ConfigureAwait(false);
            var transaction = db.CreateTransaction();
            transaction.AddCondition(Condition.ListLengthEqual(LogKey(key), changesCovered));
            _ = transaction.StringSetAsync(BaseKey(key), newBase);
            _ = transaction.KeyDeleteAsync(LogKey(key));
            committed = await transaction.ExecuteAsync().ConfigureAwait(false);
            stored = committed ? 0 : await db.ListLengthAsync(LogKey(key)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            throw IndexStorageUnavailableException.For("compacting", key, e);
        }

        if (!committed)
        {
            throw new IndexLogConflictException(key, changesCovered, stored);
        }
    }

    /// <summary>Whether Redis answers a PING within <paramref name="timeout"/> (the shutdown path asks before waiting on it).</summary>
    public async Task<bool> AnswersAsync(TimeSpan timeout)
    {
        try
        {
            var db = await Database().WaitAsync(timeout).ConfigureAwait(false);
            await db.PingAsync().WaitAsync(timeout).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        if (_connection.IsValueCreated && _connection.Value.IsCompletedSuccessfully)
        {
            _connection.Value.Result.Dispose();
        }
    }

    private static RedisKey BaseKey(string key) => key + ":base";

    private static RedisKey LogKey(string key) => key + ":log";

    private async Task<IDatabase> Database() => (await _connection.Value.ConfigureAwait(false)).GetDatabase();
}
