namespace Avg.Cluster.Telemetry;

/// <summary>
/// Images tokenized per shard in one-second buckets over the last <see cref="HistorySeconds"/> seconds: the recent
/// throughput that <c>avg_shard_images_per_second</c> exports and the history the shard dashboard page charts.
/// Time is passed in (seconds of a monotonic clock) so the arithmetic is testable without waiting.
/// </summary>
public sealed class ShardThroughput
{
    /// <summary>How far back the history reaches: the "last minutes" of the shard dashboard.</summary>
    public const int HistorySeconds = 300;

    /// <summary>The window of the recent rate: short enough to fall to zero soon after ingest stops.</summary>
    public const int RateWindowSeconds = 10;

    /// <summary>Seconds per point of <see cref="History"/> (60 points over five minutes).</summary>
    public const int HistoryStepSeconds = 5;

    private readonly Dictionary<int, Ring> _shards = [];
    private readonly Lock _gate = new();

    /// <summary>Shards that recorded images on this silo.</summary>
    public int[] Shards
    {
        get
        {
            lock (_gate)
            {
                return [.. _shards.Keys.Order()];
            }
        }
    }

    /// <summary>Counts <paramref name="images"/> for <paramref name="shard"/> in the second <paramref name="nowSeconds"/>.</summary>
    public void Record(int shard, long images, long nowSeconds)
    {
        lock (_gate)
        {
            if (!_shards.TryGetValue(shard, out var ring))
            {
                _shards[shard] = ring = new Ring();
            }

            ring.Add(nowSeconds, images);
        }
    }

    /// <summary>Images per second over the last <see cref="RateWindowSeconds"/> whole seconds before <paramref name="nowSeconds"/> and the current one.</summary>
    public double Rate(int shard, long nowSeconds)
    {
        lock (_gate)
        {
            return _shards.TryGetValue(shard, out var ring) ? ring.Sum(nowSeconds - RateWindowSeconds + 1, nowSeconds) / (double)RateWindowSeconds : 0;
        }
    }

    /// <summary>Images per second in consecutive <see cref="HistoryStepSeconds"/>-second steps over the history, oldest first.</summary>
    public double[] History(int shard, long nowSeconds)
    {
        var points = new double[HistorySeconds / HistoryStepSeconds];
        lock (_gate)
        {
            if (!_shards.TryGetValue(shard, out var ring))
            {
                return points;
            }

            for (var p = 0; p < points.Length; p++)
            {
                var last = nowSeconds - ((points.Length - 1 - p) * HistoryStepSeconds);
                points[p] = ring.Sum(last - HistoryStepSeconds + 1, last) / (double)HistoryStepSeconds;
            }
        }

        return points;
    }

    /// <summary>One shard's buckets: slot = second mod length, stamped with the second it holds so stale slots read as 0.</summary>
    private sealed class Ring
    {
        private readonly long[] _second = new long[HistorySeconds];
        private readonly long[] _images = new long[HistorySeconds];

        public Ring() => Array.Fill(_second, long.MinValue);

        public void Add(long second, long images)
        {
            var slot = Slot(second);
            if (_second[slot] != second)
            {
                _second[slot] = second;
                _images[slot] = 0;
            }

            _images[slot] += images;
        }

        /// <summary>Images recorded in seconds <paramref name="from"/> … <paramref name="to"/> (inclusive).</summary>
        public long Sum(long from, long to)
        {
            var sum = 0L;
            for (var s = Math.Max(from, to - HistorySeconds + 1); s <= to; s++)
            {
                var slot = Slot(s);
                if (_second[slot] == s)
                {
                    sum += _images[slot];
                }
            }

            return sum;
        }

        private static int Slot(long second) => (int)(((second % HistorySeconds) + HistorySeconds) % HistorySeconds);
    }
}
