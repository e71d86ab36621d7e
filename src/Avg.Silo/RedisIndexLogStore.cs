using Avg.Cluster.Storage;
using StackExchange.Redis;

namespace Avg.Silo;

/// <summary>
/// Index logs in Redis: the base at <c>KEY:base</c> (a string), change records at <c>KEY:log</c> (a list, one
/// <c>RPUSH</c> per change); compaction sets the base and trims the records it covers in one transaction.
/// </summary>
internal sealed class RedisIndexLogStore(ConfigurationOptions configuration) : IIndexLogStore, IDisposable
{
    private readonly Lazy<Task<ConnectionMultiplexer>> _connection = new(() => ConnectionMultiplexer.ConnectAsync(configuration.Clone()));

    public async Task<StoredLog> ReadAsync(string key)
    {
        var db = await Database().ConfigureAwait(false);
        var batch = db.CreateBatch();
        var baseTask = batch.StringGetAsync(BaseKey(key));
        var changesTask = batch.ListRangeAsync(LogKey(key));
        batch.Execute();
        var (baseValue, changes) = (await baseTask.ConfigureAwait(false), await changesTask.ConfigureAwait(false));
        return new StoredLog(baseValue.IsNull ? null : (byte[])baseValue!, changes.Select(c => (byte[])c!).ToArray());
    }

    public async Task AppendAsync(string key, byte[] record)
    {
        var db = await Database().ConfigureAwait(false);
        await db.ListRightPushAsync(LogKey(key), record).ConfigureAwait(false);
    }

    public async Task CompactAsync(string key, byte[] newBase, int changesCovered)
    {
        var db = await Database().ConfigureAwait(false);
        var transaction = db.CreateTransaction();
        _ = transaction.StringSetAsync(BaseKey(key), newBase);
        _ = transaction.ListTrimAsync(LogKey(key), changesCovered, -1);
        if (!await transaction.ExecuteAsync().ConfigureAwait(false))
        {
            throw new AvgException($"Redis did not run the compaction of {key}; its change records are kept and compaction is tried again later.");
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
