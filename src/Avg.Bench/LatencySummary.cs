using System.Diagnostics;

namespace Avg.Bench;

/// <summary>Per-query wall-clock latencies of one single-stream run, summarised.</summary>
/// <param name="QueriesPerSecond">Timed queries divided by the sum of their latencies (one query in flight at a time).</param>
public sealed record LatencySummary(int Queries, double QueriesPerSecond, double MeanMs, double P50Ms, double P90Ms, double P99Ms, double MaxMs)
{
    /// <summary>Summarises latencies given in <see cref="Stopwatch"/> ticks.</summary>
    public static LatencySummary FromTicks(IReadOnlyList<long> ticks)
    {
        ArgumentNullException.ThrowIfNull(ticks);
        if (ticks.Count == 0) throw new ArgumentException("no latencies to summarise", nameof(ticks));
        var ms = ticks.Select(t => t * 1000.0 / Stopwatch.Frequency).Order().ToArray();
        var total = ms.Sum();
        return new LatencySummary(ms.Length, ms.Length / (total / 1000.0), total / ms.Length,
            Percentile(ms, 50), Percentile(ms, 90), Percentile(ms, 99), ms[^1]);
    }

    /// <summary>Nearest-rank percentile of ascending values: the smallest value with at least p % of values at or below it.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        var rank = (int)Math.Ceiling(p / 100 * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }
}
