namespace Avg.Cluster.Telemetry;

/// <summary>The searches of one silo's latency window: how many since start, p50 and p99 over the window, recent rate.</summary>
public readonly record struct QueryLatencySummary(long Count, double P50Ms, double P99Ms, double QueriesPerSecond);

/// <summary>
/// The silo-local window of the last 10,000 searches behind the <c>queries</c> figures of /v1/stats. Fed by
/// <see cref="AvgMetrics.RecordQuery"/> with the same measurement as the exported histogram (the search grain call's
/// duration, taken at the grain boundary), so a search's latency is measured once.
/// </summary>
public sealed class QueryLatencyWindow
{
    private const int Window = 10_000;
    private static readonly TimeSpan RateWindow = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private readonly double[] _latencies = new double[Window];
    private readonly long[] _at = new long[Window];
    private long _count;

    public void RecordSearch(double milliseconds)
    {
        lock (_gate)
        {
            var slot = (int)(_count % Window);
            _latencies[slot] = milliseconds;
            _at[slot] = Environment.TickCount64;
            _count++;
        }
    }

    /// <summary>Count, p50, p99 over the last 10,000 queries, and queries/s over the last 10 seconds (this silo).</summary>
    public QueryLatencySummary Snapshot()
    {
        // Copied under the lock, sorted outside it: a search records in O(1) and never waits for a sort.
        double[] sorted;
        long[] at;
        long count;
        lock (_gate)
        {
            var n = (int)Math.Min(_count, Window);
            sorted = _latencies.AsSpan(0, n).ToArray();
            at = _at.AsSpan(0, n).ToArray();
            count = _count;
        }

        if (sorted.Length == 0)
        {
            return new QueryLatencySummary(0, 0, 0, 0);
        }

        Array.Sort(sorted);
        var now = Environment.TickCount64;
        var recent = 0;
        var oldest = now;
        foreach (var t in at)
        {
            if (now - t <= RateWindow.TotalMilliseconds)
            {
                recent++;
                oldest = Math.Min(oldest, t);
            }
        }

        var span = Math.Max(1.0, (now - oldest) / 1000.0);
        return new QueryLatencySummary(count, Percentile(sorted, 0.50), Percentile(sorted, 0.99), recent / span);
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}
