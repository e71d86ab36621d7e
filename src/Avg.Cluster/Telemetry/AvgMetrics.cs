using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Avg.Cluster.Telemetry;

/// <summary>
/// The product's one <see cref="Meter"/> (<c>Avg</c>) with the instruments of docs/metrics.md, one per silo: grains
/// and the model host record what this silo did; the silo host exports it on <c>/metrics</c>. Also keeps the
/// per-shard throughput the shard dashboard charts.
/// </summary>
public sealed class AvgMetrics : IDisposable
{
    public const string MeterName = "Avg";

    // Instrument names: the Prometheus names of docs/metrics.md come from these (dots → _, counters + _total, s → _seconds).
    public const string IngestImages = "avg.ingest.images";
    public const string ShardImagesPerSecond = "avg.shard.images_per_second";
    public const string PartitionImages = "avg.partition.images";
    public const string QueryDuration = "avg.query.duration";
    public const string BeamSteps = "avg.beam.steps";
    public const string FanOutCalls = "avg.fanout.calls";
    public const string PartitionCachePushes = "avg.partition_cache.pushes";
    public const string ModelBatchSize = "avg.model.batch_size";
    public const string ProcessResident = "avg.process.resident";
    public const string ManagedHeap = "avg.managed.heap";
    public const string ManagedCommitted = "avg.managed.committed";
    public const string NativeResident = "avg.native.resident";
    public const string GcPause = "avg.gc.pause";
    public const string GcCollections = "avg.gc.collections";
    public const string GcAllocated = "avg.gc.allocated";
    public const string GcLastPause = "avg.gc.last_pause";
    public const string GcLastPromoted = "avg.gc.last_promoted";
    public const string LiveTensors = "avg.torch.live_tensors";
    public const string PartitionCacheRows = "avg.partition_cache.rows";
    public const string Cancelled = "avg.cancelled";
    public const string PartialQueries = "avg.query.partial";

    /// <summary>Value of the <c>kind</c> label of <see cref="ModelBatchSize"/> for generator batches.</summary>
    public const string QueryBatch = "query";

    /// <summary>Value of the <c>kind</c> label of <see cref="ModelBatchSize"/> for encoder/tokenizer batches.</summary>
    public const string IngestBatch = "ingest";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _ingestImages;
    private readonly Histogram<double> _queryDuration;
    private readonly Counter<long> _beamSteps;
    private readonly Histogram<long> _modelBatchSize;
    private readonly Counter<long> _cancelled;
    private readonly Counter<long> _partialQueries;
    private readonly ShardThroughput _throughput = new();
    private readonly Dictionary<(string IndexVersion, int Partition), long> _partitionImages = [];
    private readonly Lock _partitionsGate = new();
    private Func<long>? _liveTensors;
    private Model.PartitionCache? _cache;

    public AvgMetrics()
    {
        _ingestImages = _meter.CreateCounter<long>(IngestImages, "{image}", "Images tokenized by a tokenization shard and routed to their partition");
        _meter.CreateObservableGauge(ShardImagesPerSecond, ObserveShards, description: "Recent images per second of each tokenization shard on this silo");
        _meter.CreateObservableGauge(PartitionImages, ObservePartitions, description: "Images held by each trie partition activated on this silo");
        _queryDuration = _meter.CreateHistogram<double>(QueryDuration, "s", "Wall time of one search, generator and fan-out included");
        _beamSteps = _meter.CreateCounter<long>(BeamSteps, "{step}", "Constrained beam search steps (one per voken position per query)");
        _meter.CreateObservableCounter(FanOutCalls, ObserveCacheFetches, "{call}", "Partition fetches and refreshes (grain calls) a query silo made to partition grains");
        _meter.CreateObservableCounter(PartitionCachePushes, () => _cache?.Pushes ?? 0, "{change}", "Partition changes pushed to this silo's query cache and applied to its copies, so no query had to fetch them");
        _modelBatchSize = _meter.CreateHistogram<long>(ModelBatchSize, description: "Requests merged into one forward pass by the model host's batcher");

        // Memory and GC of the silo process, for soak runs and capacity alarms (docs/metrics.md, "Process memory").
        _meter.CreateObservableGauge(ProcessResident, () => Environment.WorkingSet, "By", "Resident set size of the silo process");
        _meter.CreateObservableGauge(ManagedHeap, () => GC.GetGCMemoryInfo().HeapSizeBytes, "By", "Managed heap size after the last collection");
        _meter.CreateObservableGauge(ManagedCommitted, () => GC.GetGCMemoryInfo().TotalCommittedBytes, "By", "Memory the managed heap has committed");
        _meter.CreateObservableGauge(NativeResident, () => Math.Max(0, Environment.WorkingSet - GC.GetGCMemoryInfo().TotalCommittedBytes), "By",
            "Resident memory outside the managed heap (resident set less managed committed): LibTorch and ONNX Runtime tensors, native libraries, thread stacks");
        _meter.CreateObservableCounter(GcPause, () => GC.GetTotalPauseDuration().TotalSeconds, "s", "Time the process was paused for garbage collection since start");
        _meter.CreateObservableCounter(GcCollections, ObserveCollections, "{collection}", "Garbage collections since start, by generation");
        _meter.CreateObservableCounter(GcAllocated, () => GC.GetTotalAllocatedBytes(), "By", "Bytes allocated on the managed heap since start: its rate sets how often collections pause the silo");
        // A search that meets a collection waits for its pause: the last pause of each kind is what a latency tail is made of.
        _meter.CreateObservableGauge(GcLastPause, () => ObserveLastCollection(gc => gc.PauseDurations.Length > 0 ? gc.PauseDurations[0].TotalSeconds : 0), "s",
            "Pause of the last collection of each kind (ephemeral: generations 0–1; full_blocking; background: its first pause)");
        _meter.CreateObservableGauge(GcLastPromoted, () => ObserveLastCollection(gc => gc.PromotedBytes), "By",
            "Bytes the last collection of each kind kept alive (copied or marked): the work of its pause");
        _meter.CreateObservableGauge(LiveTensors, ObserveLiveTensors, "{tensor}", "TorchSharp tensors alive now, all threads (model silos only)");
        _meter.CreateObservableGauge(PartitionCacheRows, ObserveCacheRows, "{row}",
            "Rows of the partitions this silo's query cache holds: live images, and unreachable ones (changed or removed) awaiting a rewrite");
        _cancelled = _meter.CreateCounter<long>(Cancelled, "{request}", "Searches and ingest batches stopped on this silo because their caller went away");
        _partialQueries = _meter.CreateCounter<long>(PartialQueries, "{query}", "Searches answered without some partitions, or from older copies of them, because they did not answer in time");
    }

    /// <summary>Where the live tensor count comes from: the model host sets it on model silos (TorchSharp's own counter).</summary>
    public void ObserveLiveTensorsWith(Func<long> count) => _liveTensors = count;

    /// <summary>The query cache whose rows and fetches the meter reports: the silo's one <see cref="Model.PartitionCache"/>, set where the silo's services are put together.</summary>
    public void ObservePartitionCache(Model.PartitionCache cache) => _cache = cache;

    /// <summary>Explicit boundaries for <see cref="QueryDuration"/> (seconds; OpenTelemetry's defaults suit milliseconds).</summary>
    public static IReadOnlyList<double> QueryDurationBuckets { get; } = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>Explicit boundaries for <see cref="ModelBatchSize"/>.</summary>
    public static IReadOnlyList<double> BatchSizeBuckets { get; } = [1, 2, 4, 8, 16, 32, 64, 128, 256];

    /// <summary>Seconds of a monotonic clock: the time axis of the shard throughput.</summary>
    private static long NowSeconds => Stopwatch.GetTimestamp() / Stopwatch.Frequency;

    /// <summary>A tokenization shard on this silo indexed <paramref name="images"/> images.</summary>
    public void RecordIngest(int shard, int images)
    {
        _ingestImages.Add(images, new KeyValuePair<string, object?>("shard", shard));
        _throughput.Record(shard, images, NowSeconds);
    }

    /// <summary>The shard's images per second over the last few seconds (this silo).</summary>
    public double ShardRate(int shard) => _throughput.Rate(shard, NowSeconds);

    /// <summary>The shard's images per second over the last five minutes in 5-second steps, oldest first (this silo).</summary>
    public double[] ShardHistory(int shard) => _throughput.History(shard, NowSeconds);

    /// <summary>An active partition of <paramref name="indexVersion"/> on this silo now holds <paramref name="images"/> images.</summary>
    public void SetPartitionImages(string indexVersion, int partition, int images)
    {
        lock (_partitionsGate)
        {
            _partitionImages[(indexVersion, partition)] = images;
        }
    }

    /// <summary>The partition's activation left this silo: another silo reports it from now on.</summary>
    public void RemovePartition(string indexVersion, int partition)
    {
        lock (_partitionsGate)
        {
            _partitionImages.Remove((indexVersion, partition));
        }
    }

    /// <summary>The last searches of this silo, for /v1/stats: the same durations as <see cref="QueryDuration"/>.</summary>
    public QueryLatencyWindow QueryWindow { get; } = new();

    /// <summary>One search answered on this silo: into the exported histogram and the stats window.</summary>
    public void RecordQuery(TimeSpan elapsed)
    {
        _queryDuration.Record(elapsed.TotalSeconds);
        QueryWindow.RecordSearch(elapsed.TotalMilliseconds);
    }

    public void RecordBeamSteps(long steps) => _beamSteps.Add(steps);

    /// <summary>One forward pass of the model host merged <paramref name="requests"/> requests of <paramref name="kind"/>.</summary>
    public void RecordModelBatch(string kind, int requests) => _modelBatchSize.Record(requests, new KeyValuePair<string, object?>("kind", kind));

    /// <summary>Work of <paramref name="kind"/> (<see cref="QueryBatch"/> or <see cref="IngestBatch"/>) stopped because its caller cancelled it.</summary>
    public void RecordCancelled(string kind) => _cancelled.Add(1, new KeyValuePair<string, object?>("kind", kind));

    public void RecordPartialQuery() => _partialQueries.Add(1);

    public void Dispose() => _meter.Dispose();

    private static IEnumerable<Measurement<long>> ObserveCollections()
    {
        for (var generation = 0; generation <= GC.MaxGeneration; generation++)
        {
            yield return new Measurement<long>(GC.CollectionCount(generation), new KeyValuePair<string, object?>("generation", generation));
        }
    }

    private static IEnumerable<Measurement<T>> ObserveLastCollection<T>(Func<GCMemoryInfo, T> value)
        where T : struct
    {
        foreach (var (kind, label) in new[] { (GCKind.Ephemeral, "ephemeral"), (GCKind.FullBlocking, "full_blocking"), (GCKind.Background, "background") })
        {
            var info = GC.GetGCMemoryInfo(kind);
            if (info.Index > 0)
            {
                yield return new Measurement<T>(value(info), new KeyValuePair<string, object?>("kind", label));
            }
        }
    }

    private IEnumerable<Measurement<long>> ObserveLiveTensors()
    {
        if (_liveTensors is { } count)
        {
            yield return new Measurement<long>(count());
        }
    }

    private IEnumerable<Measurement<long>> ObserveCacheFetches()
    {
        if (_cache is { } cache)
        {
            yield return new Measurement<long>(cache.Fetches);
        }
    }

    private IEnumerable<Measurement<long>> ObserveCacheRows()
    {
        if (_cache is { } cache)
        {
            var (live, unreachable) = cache.Rows();
            yield return new Measurement<long>(live, new KeyValuePair<string, object?>("state", "live"));
            yield return new Measurement<long>(unreachable, new KeyValuePair<string, object?>("state", "unreachable"));
        }
    }

    private IEnumerable<Measurement<double>> ObserveShards()
    {
        var now = NowSeconds;
        foreach (var shard in _throughput.Shards)
        {
            yield return new Measurement<double>(_throughput.Rate(shard, now), new KeyValuePair<string, object?>("shard", shard));
        }
    }

    private IEnumerable<Measurement<long>> ObservePartitions()
    {
        KeyValuePair<int, long>[] byPartition;
        lock (_partitionsGate)
        {
            // Labels are partitions only: an index version being replaced adds to the same series.
            byPartition = _partitionImages.GroupBy(p => p.Key.Partition, p => p.Value).Select(g => KeyValuePair.Create(g.Key, g.Sum())).ToArray();
        }

        return byPartition.Select(p => new Measurement<long>(p.Value, new KeyValuePair<string, object?>("partition", p.Key)));
    }
}
