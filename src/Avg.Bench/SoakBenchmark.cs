using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Avg.Cluster.Hosting;
using Avg.Cluster.Testing;
using Avg.Models.Pipeline;

namespace Avg.Bench;

/// <summary>Settings of the soak (docs/soak.md, "avg-bench soak").</summary>
public sealed record SoakBenchmarkOptions
{
    public required string Bundle { get; init; }

    /// <summary>Levels of the mixed load, warm-up included.</summary>
    public double Minutes { get; init; } = 10;

    /// <summary>The first part of the load, left out of the start-against-end comparison (caches fill, the heap grows to its working size).</summary>
    public double WarmupMinutes { get; init; } = 2;

    /// <summary>Seconds between samples of the silo's /metrics and /proc.</summary>
    public int SampleSeconds { get; init; } = 10;

    /// <summary>Images indexed before the load starts; the load then keeps the index at this size (each new image replaces the oldest).</summary>
    public int Preload { get; init; } = 20_000;

    /// <summary>New images indexed per second, in batches of <see cref="IngestBatch"/>.</summary>
    public int IngestRate { get; init; } = 50;

    public int IngestBatch { get; init; } = 25;

    /// <summary>Images deleted per second (one DELETE each), oldest first, never below <see cref="Preload"/> images indexed.</summary>
    public int DeleteRate { get; init; } = 50;

    /// <summary>Searches per second over all search clients.</summary>
    public double SearchRate { get; init; } = 20;

    public int SearchClients { get; init; } = 4;

    public int Seed { get; init; } = 7;

    public string Cache { get; init; } = Path.Combine(".cache", "avg-bench");

    /// <summary>
    /// After warm-up, a full blocking collection is asked of the silo this often (0: never), and the managed set it kept
    /// alive recorded: the one heap figure in which garbage awaiting the next full collection does not count.
    /// </summary>
    public double FullGcMinutes { get; init; } = 2;

    public string? JsonPath { get; init; }

    public string? ChartPath { get; init; }

    public SoakBenchmarkOptions Validate()
    {
        if (FullGcMinutes < 0) throw new AvgException(Invariant($"--full-gc-minutes must be 0 (never) or more, got {FullGcMinutes}"));
        if (Minutes is <= 0 or > 24 * 60) throw new AvgException(Invariant($"--minutes must be above 0 and at most 1440, got {Minutes}"));
        if (WarmupMinutes < 0 || WarmupMinutes >= Minutes) throw new AvgException(Invariant($"--warmup-minutes must be at least 0 and below --minutes ({Minutes}), got {WarmupMinutes}"));
        if (SampleSeconds is < 1 or > 600) throw new AvgException(Invariant($"--sample-seconds must be between 1 and 600, got {SampleSeconds}"));
        if ((Minutes - WarmupMinutes) * 60 < 4 * SampleSeconds) throw new AvgException(Invariant($"the load after warm-up ({(Minutes - WarmupMinutes) * 60:F0} s) must hold at least 4 samples of --sample-seconds {SampleSeconds}"));
        if (Preload < 10) throw new AvgException(Invariant($"--preload must be at least 10 images, got {Preload}"));
        if (IngestRate < 1) throw new AvgException(Invariant($"--ingest-rate must be at least 1 image/s, got {IngestRate}"));
        if (IngestBatch is < 1 or > 1000) throw new AvgException(Invariant($"--ingest-batch must be between 1 and 1000 (the HTTP API's limit), got {IngestBatch}"));
        if (DeleteRate < 0) throw new AvgException(Invariant($"--delete-rate must be at least 0, got {DeleteRate}"));
        if (SearchRate <= 0) throw new AvgException(Invariant($"--search-rate must be above 0, got {SearchRate}"));
        if (SearchClients < 1) throw new AvgException(Invariant($"--search-clients must be at least 1, got {SearchClients}"));
        return this;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// A steady mixed load against one real silo process with Redis: one client indexes new images at a fixed rate,
/// one deletes the oldest at a fixed rate (so the index stays near <see cref="SoakBenchmarkOptions.Preload"/>
/// images), several search at a fixed total rate. Every <see cref="SoakBenchmarkOptions.SampleSeconds"/> it reads
/// the silo's memory, GC and live-tensor metrics (docs/metrics.md) and the interval's search latency. The report
/// compares the first minute after warm-up with the last, fits a slope to each memory series, and checks that the
/// index holds exactly the images acknowledged less those deleted.
/// </summary>
/// <remarks>
/// Image row r is indexed under <see cref="ScrambledIds.IdOf"/>(r) with the vector of row r mod Preload: the image
/// set the index holds is the same throughout, only its ids move on, so R@10 (a hit is an id whose row is the query
/// image's, mod Preload) stays comparable from start to end.
/// </remarks>
public sealed partial class SoakBenchmark(SoakBenchmarkOptions options, TextWriter log)
{
    private static readonly string[] MemorySeries = ["rss_mb", "native_mb", "managed_heap_mb", "managed_committed_mb", "live_tensors"];

    private readonly SoakBenchmarkOptions _options = options.Validate();
    private readonly ConcurrentQueue<(double At, double Ms, bool Hit)> _searches = new();
    private readonly Stopwatch _clock = new();
    private long _failures;
    private long _ingestedRows;
    private long _deletedRows;
    private long _searchesBehind;

    public async Task<JsonObject> RunAsync()
    {
        float[] vectors;
        int width;
        ShapesIndexImages images;
        using (var model = AvgModel.Load(_options.Bundle, "cpu"))
        {
            images = ShapesIndexImages.Ensure(_options.Cache, _options.Seed, model.Config.ImageSize, _options.Preload, log);
            vectors = images.Encode(model, _options.Preload, log, out _);
            width = vectors.Length / _options.Preload;
        }

        var queries = Enumerable.Range(0, 1000).Select(i =>
        {
            var image = (int)((i * 7919L) % _options.Preload);
            return (Text: images.Caption(image, i % Shapes.ShapesWorld.CaptionsPerImage), Image: image);
        }).ToArray();

        Directory.CreateDirectory(_options.Cache);
        var ports = LoopbackPorts.Take(4);
        using var redis = await LocalCluster.StartRedisAsync(ports[0], Path.GetFullPath(_options.Cache)).ConfigureAwait(false);
        var logPath = Path.GetFullPath(Path.Combine(_options.Cache, "soak-silo.log"));
        using var silo = LocalCluster.StartSilo(new SiloLaunch(_options.Bundle, ports, "model,partitions", Invariant($"soak-{ports[0]}"), logPath), log);
        using var http = new HttpClient { BaseAddress = new Uri(Invariant($"http://127.0.0.1:{ports[3]}")), Timeout = TimeSpan.FromSeconds(60) };
        await LocalCluster.WaitReadyAsync(http, silo).ConfigureAwait(false);

        log.WriteLine(Invariant($"preloading {_options.Preload} images"));
        var preload = Stopwatch.StartNew();
        for (var start = 0; start < _options.Preload; start += 500)
        {
            await IngestAsync(http, vectors, width, start, Math.Min(500, _options.Preload - start)).ConfigureAwait(false);
        }

        _ingestedRows = _options.Preload;
        log.WriteLine(Invariant($"preloaded {_options.Preload} images in {preload.Elapsed.TotalSeconds:F1} s; mixed load for {_options.Minutes} min ({_options.WarmupMinutes} min warm-up)"));

        var duration = TimeSpan.FromMinutes(_options.Minutes);
        using var stop = new CancellationTokenSource();
        _clock.Start();
        var load = new List<Task>
        {
            PacedAsync(_options.IngestRate / (double)_options.IngestBatch, async () =>
            {
                var start = (int)Interlocked.Read(ref _ingestedRows);
                await IngestAsync(http, vectors, width, start, _options.IngestBatch).ConfigureAwait(false);
                Interlocked.Add(ref _ingestedRows, _options.IngestBatch);
            }, stop.Token),
        };
        if (_options.DeleteRate > 0)
        {
            load.Add(PacedAsync(_options.DeleteRate, () => DeleteOldestAsync(http), stop.Token));
        }

        for (var c = 0; c < _options.SearchClients; c++)
        {
            var client = c;
            var next = client;
            load.Add(PacedAsync(_options.SearchRate / _options.SearchClients, async () =>
            {
                var query = queries[next % queries.Length];
                next += _options.SearchClients;
                await SearchAsync(http, query.Text, query.Image).ConfigureAwait(false);
            }, stop.Token, () => Interlocked.Increment(ref _searchesBehind)));
        }

        var samples = new JsonArray();
        var previous = 0.0;
        var nextFullCollection = _options.WarmupMinutes * 60;
        while (_clock.Elapsed < duration)
        {
            await Task.Delay(TimeSpan.FromSeconds(_options.SampleSeconds)).ConfigureAwait(false);
            double? liveMb = null;
            if (_options.FullGcMinutes > 0 && _clock.Elapsed.TotalSeconds >= nextFullCollection)
            {
                liveMb = await FullCollectionAsync(http, silo).ConfigureAwait(false);
                nextFullCollection += _options.FullGcMinutes * 60;
            }

            var sample = await SampleAsync(http, silo, previous).ConfigureAwait(false);
            sample["induced_full_gc_live_mb"] = liveMb;
            previous = sample["t_s"]!.GetValue<double>();
            samples.Add(sample);
            log.WriteLine(Invariant($"[{TimeSpan.FromSeconds(previous):m\\:ss}] RSS {sample["rss_mb"]} MB, native {sample["native_mb"]} MB, heap {sample["managed_heap_mb"]} MB, tensors {sample["live_tensors"]}, cache rows {sample["cache_live_rows"]} live + {sample["cache_unreachable_rows"]} unreachable, search p99 {sample["p99_ms"]} ms ({sample["searches"]} searches), {Interlocked.Read(ref _ingestedRows) - _options.Preload} indexed, {Interlocked.Read(ref _deletedRows)} deleted, {Interlocked.Read(ref _failures)} failed"));
        }

        await stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(load).ConfigureAwait(false);
        var elapsed = _clock.Elapsed.TotalSeconds;
        var expected = Interlocked.Read(ref _ingestedRows) - Interlocked.Read(ref _deletedRows);
        var indexed = await IndexedImagesAsync(http).ConfigureAwait(false);
        await LocalCluster.StopAsync(silo).ConfigureAwait(false);
        var (errors, errorSample) = LocalCluster.SiloLogErrors(logPath);

        var report = new JsonObject
        {
            ["bundle"] = Path.GetFullPath(_options.Bundle),
            ["machine"] = Invariant($"{Environment.ProcessorCount} cores, {Environment.OSVersion}"),
            ["minutes"] = _options.Minutes,
            ["warmup_minutes"] = _options.WarmupMinutes,
            ["sample_seconds"] = _options.SampleSeconds,
            ["preload_images"] = _options.Preload,
            ["target_rates"] = new JsonObject
            {
                ["ingest_images_per_second"] = _options.IngestRate,
                ["ingest_batch"] = _options.IngestBatch,
                ["deletes_per_second"] = _options.DeleteRate,
                ["searches_per_second"] = _options.SearchRate,
                ["search_clients"] = _options.SearchClients,
            },
            ["achieved_rates"] = new JsonObject
            {
                ["ingest_images_per_second"] = Math.Round((Interlocked.Read(ref _ingestedRows) - _options.Preload) / elapsed, 1),
                ["deletes_per_second"] = Math.Round(Interlocked.Read(ref _deletedRows) / elapsed, 1),
                ["searches_per_second"] = Math.Round(_searches.Count / elapsed, 1),
                ["search_ticks_behind_schedule"] = Interlocked.Read(ref _searchesBehind),
            },
            ["failed_requests"] = Interlocked.Read(ref _failures),
            ["index_images_expected"] = expected,
            ["index_images"] = indexed,
            ["index_consistent"] = indexed == expected,
            ["silo_log_errors"] = errors,
            ["silo_log_error_sample"] = new JsonArray(errorSample.Select(s => (JsonNode)s).ToArray()),
            ["silo_log"] = logPath,
            ["samples"] = samples,
        };
        report["summary"] = Summary(samples, _searches.ToArray(), _options, elapsed);
        if (_options.ChartPath is { } chart)
        {
            await File.WriteAllTextAsync(chart, SoakChart.Svg(report)).ConfigureAwait(false);
        }

        return report;
    }

    /// <summary>Start (first minute after warm-up) against end (last minute), slopes, GC and latency, with the verdicts.</summary>
    public static JsonObject Summary(JsonArray samples, IReadOnlyList<(double At, double Ms, bool Hit)> searches, SoakBenchmarkOptions options, double elapsedSeconds)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(searches);
        ArgumentNullException.ThrowIfNull(options);
        var warm = options.WarmupMinutes * 60;
        var window = Math.Min(60, (elapsedSeconds - warm) / 4);
        var after = samples.Select(s => s!.AsObject()).Where(s => s["t_s"]!.GetValue<double>() >= warm).ToArray();
        var startSamples = after.Where(s => s["t_s"]!.GetValue<double>() < warm + window).ToArray();
        var endSamples = after.Where(s => s["t_s"]!.GetValue<double>() >= elapsedSeconds - window).ToArray();
        if (startSamples.Length == 0) startSamples = after.Take(1).ToArray();
        if (endSamples.Length == 0) endSamples = after.TakeLast(1).ToArray();

        var memory = new JsonObject();
        var flat = true;
        // The managed set each induced full collection kept alive: when there are two or more, it is what judges the
        // managed heap, whose samples also hold the older generations' garbage awaiting a full collection.
        var live = after.Where(s => s["induced_full_gc_live_mb"] is not null)
            .Select(s => (Minute: s["t_s"]!.GetValue<double>() / 60, Mb: s["induced_full_gc_live_mb"]!.GetValue<double>())).ToArray();
        var judgeLiveSet = live.Length >= 2;
        foreach (var series in MemorySeries)
        {
            var start = Median(startSamples.Select(s => s[series]!.GetValue<double>()));
            var end = Median(endSamples.Select(s => s[series]!.GetValue<double>()));
            var slopePerMinute = Slope(after.Select(s => (s["t_s"]!.GetValue<double>() / 60, s[series]!.GetValue<double>())).ToArray());
            // Drift: what the fitted line adds over the measured window, against the start.
            var drift = start > 0 ? slopePerMinute * (after[^1]["t_s"]!.GetValue<double>() - after[0]["t_s"]!.GetValue<double>()) / 60 / start : 0;
            var isFlat = start <= 0 || (end / start <= 1.10 && drift <= 0.10);
            var judged = !(judgeLiveSet && series == "managed_heap_mb");
            flat &= isFlat || !judged;
            memory[series] = new JsonObject
            {
                ["judged"] = judged,
                ["start"] = Math.Round(start, 1),
                ["end"] = Math.Round(end, 1),
                ["end_over_start"] = start > 0 ? Math.Round(end / start, 3) : null,
                ["slope_per_minute"] = Math.Round(slopePerMinute, 3),
                ["drift_over_window"] = Math.Round(drift, 4),
                ["flat"] = isFlat,
            };
        }

        if (judgeLiveSet)
        {
            var slope = Slope(live.Select(l => (l.Minute, l.Mb)).ToArray());
            var drift = slope * (live[^1].Minute - live[0].Minute) / live[0].Mb;
            var isFlat = live[^1].Mb / live[0].Mb <= 1.10 && drift <= 0.10;
            flat &= isFlat;
            memory["managed_live_after_induced_full_gc_mb"] = new JsonObject
            {
                ["judged"] = true,
                ["points"] = new JsonArray(live.Select(l => (JsonNode)new JsonObject { ["minute"] = Math.Round(l.Minute, 1), ["mb"] = l.Mb }).ToArray()),
                ["start"] = live[0].Mb,
                ["end"] = live[^1].Mb,
                ["end_over_start"] = Math.Round(live[^1].Mb / live[0].Mb, 3),
                ["slope_per_minute"] = Math.Round(slope, 3),
                ["drift_over_window"] = Math.Round(drift, 4),
                ["flat"] = isFlat,
            };
        }

        (double P50, double P99, int Count, double Recall) Latency(double from, double to)
        {
            var ms = searches.Where(s => s.At >= from && s.At < to).Select(s => s.Ms).Order().ToArray();
            var hits = searches.Count(s => s.At >= from && s.At < to && s.Hit);
            return ms.Length == 0 ? (double.NaN, double.NaN, 0, double.NaN) : (LatencySummary.Percentile(ms, 50), LatencySummary.Percentile(ms, 99), ms.Length, (double)hits / ms.Length);
        }

        JsonObject LatencyJson((double P50, double P99, int Count, double Recall) l) => new()
        {
            ["searches"] = l.Count,
            ["p50_ms"] = l.Count > 0 ? Math.Round(l.P50, 2) : null,
            ["p99_ms"] = l.Count > 0 ? Math.Round(l.P99, 2) : null,
            ["r_at_10"] = l.Count > 0 ? Math.Round(l.Recall, 4) : null,
        };

        var startLatency = Latency(warm, warm + window);
        var endLatency = Latency(elapsedSeconds - window, double.MaxValue);
        var gcFirst = after[0];
        var gcLast = after[^1];
        double Delta(string name) => gcLast[name]!.GetValue<double>() - gcFirst[name]!.GetValue<double>();
        var measuredSeconds = gcLast["t_s"]!.GetValue<double>() - gcFirst["t_s"]!.GetValue<double>();
        var p99Ratio = startLatency.Count > 0 && endLatency.Count > 0 ? endLatency.P99 / startLatency.P99 : double.NaN;
        return new JsonObject
        {
            ["window_seconds"] = Math.Round(window, 1),
            ["memory"] = memory,
            ["memory_flat"] = flat,
            ["partition_cache_rows_end"] = new JsonObject
            {
                ["live"] = endSamples[^1]["cache_live_rows"]?.GetValue<double>(),
                ["unreachable"] = endSamples[^1]["cache_unreachable_rows"]?.GetValue<double>(),
            },
            ["search_start"] = LatencyJson(startLatency),
            ["search_end"] = LatencyJson(endLatency),
            ["search_after_warmup"] = LatencyJson(Latency(warm, double.MaxValue)),
            ["search_p99_end_over_start"] = double.IsNaN(p99Ratio) ? null : Math.Round(p99Ratio, 3),
            ["gc_after_warmup"] = new JsonObject
            {
                ["pause_seconds"] = Math.Round(Delta("gc_pause_s"), 4),
                ["pause_share"] = measuredSeconds > 0 ? Math.Round(Delta("gc_pause_s") / measuredSeconds, 5) : null,
                ["gen0"] = Delta("gc_gen0"),
                ["gen1"] = Delta("gc_gen1"),
                ["gen2"] = Delta("gc_gen2"),
            },
        };
    }

    /// <summary>
    /// Asks the silo for one full blocking collection, as dotnet-gcdump does (an EventPipe session on its diagnostics
    /// port with the runtime's GCHeapCollect keyword), and answers what that collection kept alive (MB), read from
    /// <c>avg_gc_last_promoted_bytes{kind="full_blocking"}</c> once the generation-2 count has moved; null when the
    /// silo did not collect within 10 s (the report then says so).
    /// </summary>
    private async Task<double?> FullCollectionAsync(HttpClient http, ChildProcess silo)
    {
        const long GcKeyword = 0x1, GcHeapCollectKeyword = 0x800000;
        var before = await MetricsAsync(http).ConfigureAwait(false);
        var collections = before.GetValueOrDefault("avg_gc_collections_total{generation=\"2\"}");
        try
        {
            var client = new Microsoft.Diagnostics.NETCore.Client.DiagnosticsClient(silo.Id);
            using var session = client.StartEventPipeSession(
                new Microsoft.Diagnostics.NETCore.Client.EventPipeProvider("Microsoft-Windows-DotNETRuntime", System.Diagnostics.Tracing.EventLevel.Informational, GcKeyword | GcHeapCollectKeyword),
                requestRundown: false);
            var drain = session.EventStream.CopyToAsync(Stream.Null);
            var waited = Stopwatch.StartNew();
            while (waited.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(250).ConfigureAwait(false);
                var after = await MetricsAsync(http).ConfigureAwait(false);
                if (after.GetValueOrDefault("avg_gc_collections_total{generation=\"2\"}") > collections)
                {
                    await session.StopAsync(CancellationToken.None).ConfigureAwait(false);
                    await drain.ConfigureAwait(false);
                    return Math.Round(after.GetValueOrDefault("avg_gc_last_promoted_bytes{kind=\"full_blocking\"}") / 1048576.0, 2);
                }
            }

            await session.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await drain.ConfigureAwait(false);
        }
        catch (Exception e) when (e is Microsoft.Diagnostics.NETCore.Client.DiagnosticsClientException or IOException or UnauthorizedAccessException or TimeoutException)
        {
            log.WriteLine($"could not ask the silo for a full collection ({e.Message})");
        }

        return null;
    }

    private async Task<JsonObject> SampleAsync(HttpClient http, ChildProcess silo, double previous)
    {
        var now = _clock.Elapsed.TotalSeconds;
        var metrics = await MetricsAsync(http).ConfigureAwait(false);
        var (rss, _) = LocalCluster.Rss(silo);
        var interval = _searches.Where(s => s.At >= previous && s.At < now).ToArray();
        var ms = interval.Select(s => s.Ms).Order().ToArray();
        double Metric(string name, string? label = null) => metrics.TryGetValue(label is null ? name : name + label, out var v) ? v : double.NaN;
        return new JsonObject
        {
            ["t_s"] = Math.Round(now, 1),
            ["rss_mb"] = Math.Round(rss / 1048576.0, 1),
            ["native_mb"] = Math.Round(Metric("avg_native_resident_bytes") / 1048576.0, 1),
            ["managed_heap_mb"] = Math.Round(Metric("avg_managed_heap_bytes") / 1048576.0, 1),
            ["managed_committed_mb"] = Math.Round(Metric("avg_managed_committed_bytes") / 1048576.0, 1),
            ["live_tensors"] = Metric("avg_torch_live_tensors"),
            ["gc_pause_s"] = Math.Round(Metric("avg_gc_pause_seconds_total"), 4),
            ["gc_gen0"] = Metric("avg_gc_collections_total", "{generation=\"0\"}"),
            ["gc_gen1"] = Metric("avg_gc_collections_total", "{generation=\"1\"}"),
            ["gc_gen2"] = Metric("avg_gc_collections_total", "{generation=\"2\"}"),
            ["cache_live_rows"] = Metric("avg_partition_cache_rows", "{state=\"live\"}"),
            ["cache_unreachable_rows"] = Metric("avg_partition_cache_rows", "{state=\"unreachable\"}"),
            ["cpu_s"] = Math.Round(LocalCluster.CpuSeconds(silo), 2),
            ["searches"] = ms.Length,
            ["p50_ms"] = ms.Length > 0 ? Math.Round(LatencySummary.Percentile(ms, 50), 2) : null,
            ["p99_ms"] = ms.Length > 0 ? Math.Round(LatencySummary.Percentile(ms, 99), 2) : null,
            ["r_at_10"] = ms.Length > 0 ? Math.Round(interval.Count(s => s.Hit) / (double)ms.Length, 4) : null,
            ["indexed"] = Interlocked.Read(ref _ingestedRows) - _options.Preload,
            ["deleted"] = Interlocked.Read(ref _deletedRows),
            ["failed"] = Interlocked.Read(ref _failures),
        };
    }

    /// <summary>The silo's Prometheus text: "name{labels}" (or "name") → value, for the avg_ series the soak reads.</summary>
    private static async Task<Dictionary<string, double>> MetricsAsync(HttpClient http)
    {
        var text = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative)).ConfigureAwait(false);
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith("avg_", StringComparison.Ordinal))
            {
                continue;
            }

            // "name{labels} value" (a timestamp may follow the value).
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 2 && double.TryParse(fields[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                // Of the labels only the product's own (generation, kind, state) are kept: the exporter may add otel_scope_* ones.
                var key = fields[0];
                var brace = key.IndexOf('{', StringComparison.Ordinal);
                if (brace > 0)
                {
                    var label = ProductLabel().Match(key);
                    key = label.Success ? Invariant($"{key[..brace]}{{{label.Groups[1].Value}=\"{label.Groups[2].Value}\"}}") : key[..brace];
                }

                values[key] = values.TryGetValue(key, out var sum) ? sum + value : value;
            }
        }

        return values;
    }

    private Task IngestAsync(HttpClient http, float[] vectors, int width, int startRow, int count) =>
        FeatureIngest.SendAsync(http, vectors, width, startRow, count, row => row % _options.Preload, log, () => Interlocked.Increment(ref _failures));

    /// <summary>Deletes the oldest image while more than Preload are indexed (acknowledged).</summary>
    private async Task DeleteOldestAsync(HttpClient http)
    {
        var row = Interlocked.Read(ref _deletedRows);
        if (Interlocked.Read(ref _ingestedRows) - row <= _options.Preload)
        {
            return;
        }

        using var response = await http.DeleteAsync(new Uri(Invariant($"/v1/images/{ScrambledIds.IdOf((int)row)}"), UriKind.Relative)).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NoContent)
        {
            Interlocked.Increment(ref _deletedRows);
            return;
        }

        Interlocked.Increment(ref _failures);
        var text = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        log.WriteLine(Invariant($"delete of row {row} answered {(int)response.StatusCode}: {text[..Math.Min(text.Length, 300)]}"));
    }

    private async Task SearchAsync(HttpClient http, string query, int image)
    {
        var clock = Stopwatch.StartNew();
        var body = JsonSerializer.SerializeToUtf8Bytes(new JsonObject { ["query"] = query, ["k"] = 10 });
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await http.PostAsync(new Uri("/v1/search", UriKind.Relative), content).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            Interlocked.Increment(ref _failures);
            log.WriteLine(Invariant($"search answered {(int)response.StatusCode}: {text[..Math.Min(text.Length, 300)]}"));
            return;
        }

        var ms = clock.Elapsed.TotalMilliseconds;
        var hit = JsonNode.Parse(text)!["results"]!.AsArray()
            .Any(r => long.TryParse(r!["imageId"]!.GetValue<string>(), CultureInfo.InvariantCulture, out var id) && ScrambledIds.RowOf(id) % _options.Preload == image);
        _searches.Enqueue((_clock.Elapsed.TotalSeconds, ms, hit));
    }

    private static async Task<long> IndexedImagesAsync(HttpClient http)
    {
        var stats = JsonNode.Parse(await http.GetStringAsync(new Uri("/v1/stats", UriKind.Relative)).ConfigureAwait(false))!;
        return stats["images"]!.GetValue<long>();
    }

    /// <summary>
    /// Runs <paramref name="action"/> <paramref name="perSecond"/> times a second, one at a time, until stopped. A tick
    /// more than a second late is dropped rather than caught up in a burst (and counted by <paramref name="behind"/>).
    /// </summary>
    private async Task PacedAsync(double perSecond, Func<Task> action, CancellationToken stop, Action? behind = null)
    {
        var interval = 1.0 / perSecond;
        var due = _clock.Elapsed.TotalSeconds;
        while (!stop.IsCancellationRequested)
        {
            var wait = due - _clock.Elapsed.TotalSeconds;
            if (wait > 0)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(wait), stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            else if (wait < -1)
            {
                behind?.Invoke();
                due = _clock.Elapsed.TotalSeconds;
            }

            await action().ConfigureAwait(false);
            due += interval;
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>Least-squares slope of y against x.</summary>
    private static double Slope(IReadOnlyList<(double X, double Y)> points)
    {
        var valid = points.Where(p => !double.IsNaN(p.Y)).ToArray();
        if (valid.Length < 2) return 0;
        var (mx, my) = (valid.Average(p => p.X), valid.Average(p => p.Y));
        var sxx = valid.Sum(p => (p.X - mx) * (p.X - mx));
        return sxx > 0 ? valid.Sum(p => (p.X - mx) * (p.Y - my)) / sxx : 0;
    }

    [System.Text.RegularExpressions.GeneratedRegex("(generation|kind|state)=\"([^\"]*)\"")]
    private static partial System.Text.RegularExpressions.Regex ProductLabel();

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
