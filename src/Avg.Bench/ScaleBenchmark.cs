using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Avg.Cluster.Hosting;
using Avg.Cluster.Testing;
using Avg.Models.Pipeline;

namespace Avg.Bench;

/// <summary>Settings of the scale benchmark (docs/benchmarks.md, "avg-bench scale").</summary>
public sealed record ScaleBenchmarkOptions
{
    public required string Bundle { get; init; }

    /// <summary>Index sizes, ascending: the cluster ingests up to each in turn (one growing index) and is measured there.</summary>
    public IReadOnlyList<int> Sizes { get; init; } = [10_000, 100_000, 300_000, 1_000_000];

    /// <summary>Timed single-stream queries per size (idle); the concurrent figure runs twice as many.</summary>
    public int Queries { get; init; } = 200;

    /// <summary>Concurrent HTTP clients of the throughput figure.</summary>
    public int Clients { get; init; } = 8;

    /// <summary>Images per ingest request.</summary>
    public int Batch { get; init; } = 500;

    /// <summary>Ingest requests in flight at once.</summary>
    public int Parallel { get; init; } = 4;

    public int Seed { get; init; } = 7;

    public string Cache { get; init; } = Path.Combine(".cache", "avg-bench");

    /// <summary>Also measure in-process AVG, two-tower exact search and HNSW at the same sizes (avg-bench query).</summary>
    public bool InProcess { get; init; } = true;

    public HnswOptions Hnsw { get; init; } = new();

    /// <summary>TorchSharp threads of the silo's model host (Avg__Threads); 0, the silo's default, is all cores but one.</summary>
    public int SiloThreads { get; init; }

    /// <summary>The silo's Avg__RefreshMs (near-real-time search); 0, its default, is always fresh.</summary>
    public int RefreshMs { get; init; }

    /// <summary>
    /// Silo processes: 1 (both roles), or more — all but the last with both roles, the last partitions-only; HTTP
    /// requests go round-robin to the model silos.
    /// </summary>
    public int Silos { get; init; } = 1;

    public string? JsonPath { get; init; }

    public string? ChartPath { get; init; }

    public ScaleBenchmarkOptions Validate()
    {
        if (Sizes.Count == 0) throw new AvgException("--sizes needs at least one index size, e.g. 10000,100000");
        if (Sizes.Any(s => s < 1)) throw new AvgException("--sizes: every size must be at least 1 image");
        if (Queries < 1) throw new AvgException(Invariant($"--queries must be at least 1, got {Queries}"));
        if (Clients < 1) throw new AvgException(Invariant($"--clients must be at least 1, got {Clients}"));
        if (Batch is < 1 or > 1000) throw new AvgException(Invariant($"--batch must be between 1 and 1000 (the HTTP API's limit), got {Batch}"));
        if (RefreshMs is < 0 or > 60_000) throw new AvgException(Invariant($"--refresh-ms must be between 0 and 60000, got {RefreshMs}"));
        if (Parallel < 1) throw new AvgException(Invariant($"--parallel must be at least 1, got {Parallel}"));
        if (Silos is < 1 or > 8) throw new AvgException(Invariant($"--silos must be between 1 and 8, got {Silos}"));
        return this;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// The cluster at scale, in one run: one silo process with Redis ingests the Shapes image vectors over HTTP up to
/// each size in turn while a query client runs (single-stream, then <see cref="ScaleBenchmarkOptions.Clients"/>
/// clients for the last tenth of each step); at each size it is measured idle (single-stream and concurrent HTTP
/// search, R@10), with Redis bytes per image and the silo's RSS. Then the same vectors and queries in-process
/// (<see cref="QueryBenchmark"/>: AVG, two-tower exact, HNSW). Ratios come from this one run.
/// </summary>
public sealed class ScaleBenchmark(ScaleBenchmarkOptions options, TextWriter log)
{
    private readonly ScaleBenchmarkOptions _options = options.Validate();

    public async Task<JsonObject> RunAsync()
    {
        var sizes = _options.Sizes.Distinct().Order().ToArray();
        var largest = sizes[^1];
        float[] vectors;
        int width;
        ShapesIndexImages images;
        using (var model = AvgModel.Load(_options.Bundle, "cpu"))
        {
            images = ShapesIndexImages.Ensure(_options.Cache, _options.Seed, model.Config.ImageSize, largest, log);
            vectors = images.Encode(model, largest, log, out _);
            width = vectors.Length / largest;
        }

        var queries = Enumerable.Range(0, _options.Queries).Select(i =>
        {
            var image = (int)((long)i * sizes[0] / _options.Queries % sizes[0]);
            return (Text: images.Caption(image, i % Shapes.ShapesWorld.CaptionsPerImage), Truth: ScrambledIds.IdOf(image).ToString(CultureInfo.InvariantCulture));
        }).ToArray();

        var ports = LoopbackPorts.Take(1 + (3 * _options.Silos));
        Directory.CreateDirectory(_options.Cache);
        using var redis = await LocalCluster.StartRedisAsync(ports[0], Path.GetFullPath(_options.Cache)).ConfigureAwait(false);
        var silos = new List<Silo>();
        using var stopSilos = new SiloSet(silos);
        for (var i = 0; i < _options.Silos; i++)
        {
            var roles = _options.Silos > 1 && i == _options.Silos - 1 ? AvgSiloOptions.PartitionsRole : "model,partitions";
            var logPath = Path.GetFullPath(Path.Combine(_options.Cache, _options.Silos == 1 ? "scale-silo.log" : Invariant($"scale-silo-{i}.log")));
            var siloPorts = new[] { ports[0], ports[1 + (3 * i)], ports[2 + (3 * i)], ports[3 + (3 * i)] };
            var launch = new SiloLaunch(_options.Bundle, siloPorts, roles, Invariant($"scale-{ports[0]}"), logPath, _options.SiloThreads, _options.RefreshMs);
            silos.Add(new Silo(LocalCluster.StartSilo(launch, log), roles, logPath, siloPorts[3]));
        }

        var modelEndpoints = silos.Where(s => s.Roles.Contains("model", StringComparison.Ordinal)).Select(s => new Uri(Invariant($"http://127.0.0.1:{s.HttpPort}"))).ToArray();
        using var http = new HttpClient(new RoundRobinHandler(modelEndpoints)) { BaseAddress = modelEndpoints[0], Timeout = TimeSpan.FromMinutes(5) };
        foreach (var silo in silos)
        {
            using var probe = new HttpClient { BaseAddress = new Uri(Invariant($"http://127.0.0.1:{silo.HttpPort}")) };
            await LocalCluster.WaitReadyAsync(probe, silo.Child).ConfigureAwait(false);
        }

        var redisBaseline = LocalCluster.RedisUsedMemory(ports[0]);

        var ingest = new Ingest(http, vectors, width, _options, log);
        var rows = new JsonArray();
        var indexed = 0;
        foreach (var size in sizes)
        {
            log.WriteLine(Invariant($"[{size} images] ingesting {indexed}..{size - 1} over HTTP with queries running"));
            var cpuBeforeIngest = CpuSeconds(silos);
            var clientGcBefore = ClientGc.Now();
            var during = await ingest.RunAsync(indexed, size, token => DuringIngestAsync(http, queries, ingest, token)).ConfigureAwait(false);
            var clientGcDuring = ClientGc.Now() - clientGcBefore;
            var cpuIngest = CpuSeconds(silos) - cpuBeforeIngest;
            var ingested = size - indexed;
            indexed = size;
            var (single, singleRecall) = await SingleStreamAsync(http, queries).ConfigureAwait(false);
            var cpuBeforeConcurrent = CpuSeconds(silos);
            var concurrent = await ConcurrentAsync(http, queries).ConfigureAwait(false);
            var cpuPerQuery = (CpuSeconds(silos) - cpuBeforeConcurrent) / concurrent.Count;
            // Queries ran alongside the ingest step: their CPU (at the idle cost per query) is taken off the ingest's.
            var queriesDuring = (during.Single?.Count ?? 0) + (during.Concurrent?.Count ?? 0);
            var cpuPerImage = Math.Max(0, cpuIngest - (queriesDuring * cpuPerQuery)) / ingested;
            var redisBytes = LocalCluster.RedisUsedMemory(ports[0]) - redisBaseline;
            var perSilo = silos.Select(s => (s.Roles, Memory: LocalCluster.Rss(s.Child))).ToArray();
            var (rss, peak) = (perSilo.Sum(s => s.Memory.Rss), perSilo.Sum(s => s.Memory.Peak));
            var row = new JsonObject
            {
                ["images"] = size,
                ["ingest_images_per_second"] = Math.Round(ingest.Rate(during.From, size), 1),
                ["http_idle"] = new JsonObject
                {
                    ["single_stream"] = single.ToJson(),
                    ["r_at_10"] = Math.Round(singleRecall, 4),
                    ["concurrent"] = concurrent.ToJson(),
                },
                ["http_during_ingest"] = new JsonObject
                {
                    ["single_stream"] = during.Single?.ToJson(),
                    ["concurrent"] = during.Concurrent?.ToJson(),
                    ["client_gc"] = clientGcDuring.ToJson(),
                },
                ["redis_bytes_per_image"] = Math.Round((double)redisBytes / size, 1),
                ["silo_rss_mb"] = Math.Round(rss / 1048576.0, 1),
                ["silo_peak_rss_mb"] = Math.Round(peak / 1048576.0, 1),
                ["silo_cpu_ms_per_query"] = Math.Round(cpuPerQuery * 1000, 3),
                ["silo_cpu_ms_per_image"] = Math.Round(cpuPerImage * 1000, 4),
                ["silos"] = new JsonArray(perSilo.Select(s => (JsonNode)new JsonObject
                {
                    ["roles"] = s.Roles,
                    ["rss_mb"] = Math.Round(s.Memory.Rss / 1048576.0, 1),
                }).ToArray()),
            };
            rows.Add(row);
            log.WriteLine(Invariant($"[{size} images] idle p50 {single.P50:F1} ms p99 {single.P99:F1} ms, {concurrent.Qps:F1} q/s with {_options.Clients} clients, R@10 {singleRecall:F3}; during ingest p99 {during.Single?.P99 ?? double.NaN:F1} ms; Redis {(double)redisBytes / size:F1} B/image; silo RSS {rss / 1048576.0:F0} MB; silo CPU {cpuPerQuery * 1000:F2} ms/query, {cpuPerImage * 1000:F3} ms/image"));
        }

        foreach (var silo in Enumerable.Reverse(silos))
        {
            await LocalCluster.StopAsync(silo.Child).ConfigureAwait(false);
        }

        var logs = silos.Select(s => LocalCluster.SiloLogErrors(s.LogPath)).ToArray();
        var (errors, sample) = (logs.Sum(l => l.Count), logs.SelectMany(l => l.Sample).Take(5).ToArray());
        var siloLog = silos[0].LogPath;
        var report = new JsonObject
        {
            ["bundle"] = Path.GetFullPath(_options.Bundle),
            ["machine"] = Invariant($"{Environment.ProcessorCount} cores, {Environment.OSVersion}"),
            ["batch"] = _options.Batch,
            ["parallel_requests"] = _options.Parallel,
            ["silo_threads"] = _options.SiloThreads,
            ["refresh_ms"] = _options.RefreshMs,
            ["silo_processes"] = _options.Silos,
            ["silo_roles"] = new JsonArray(silos.Select(s => (JsonNode)s.Roles).ToArray()),
            ["clients"] = _options.Clients,
            ["queries"] = _options.Queries,
            ["beam"] = Beam,
            ["k"] = 10,
            ["threads"] = 1,
            ["ingest_tenths_images_per_second"] = new JsonArray(ingest.Tenths(largest).Select(r => (JsonNode)Math.Round(r, 1)).ToArray()),
            ["failed_requests"] = ingest.Failed + _failedQueries,
            ["silo_log_errors"] = errors,
            ["silo_log_error_sample"] = new JsonArray(sample.Select(s => (JsonNode)s).ToArray()),
            ["silo_log"] = siloLog,
            ["silo_logs"] = new JsonArray(silos.Select(s => (JsonNode)s.LogPath).ToArray()),
            ["cluster"] = rows,
        };

        if (_options.InProcess)
        {
            log.WriteLine("in-process: the same vectors and queries through avg, two-tower exact search and HNSW");
            var inProcess = new QueryBenchmark(new QueryBenchmarkOptions
            {
                Bundle = _options.Bundle, Sizes = sizes, Queries = _options.Queries, Batch = 0, Threads = 1, Seed = _options.Seed, Cache = _options.Cache, Hnsw = _options.Hnsw,
                Beam = Beam,
            }, log).Run();
            report["in_process"] = inProcess;
        }

        report["targets"] = Targets(report);
        if (_options.ChartPath is { } chart)
        {
            await File.WriteAllTextAsync(chart, QueryChart.Svg(ChartReport(report))).ConfigureAwait(false);
        }

        return report;
    }

    private long _failedQueries;

    /// <summary>The beam of every search the benchmark makes, over HTTP and in process: fixed, so runs compare whatever the bundle records.</summary>
    private const int Beam = Avg.Retrieval.SearchLimits.DefaultBeam;

    /// <summary>The ratios, from this run.</summary>
    private static JsonObject Targets(JsonObject report)
    {
        var rows = JsonNode.Parse(report["cluster"]!.ToJsonString())!.AsArray();
        var tenths = report["ingest_tenths_images_per_second"]!.AsArray().Select(t => t!.GetValue<double>()).ToArray();
        double P50(JsonNode row) => row["http_idle"]!["single_stream"]!["p50_ms"]!.GetValue<double>();
        var targets = new JsonObject
        {
            ["ingest_last_over_first_tenth"] = tenths.Length == 10 ? Math.Round(tenths[^1] / tenths[0], 3) : null,
            ["http_p50_largest_over_smallest"] = Math.Round(P50(rows[^1]!) / P50(rows[0]!), 3),
            ["p99_during_ingest_over_idle"] = new JsonArray(rows.Select(r => (JsonNode?)(r!["http_during_ingest"]!["single_stream"] is JsonObject during
                ? Math.Round(during["p99_ms"]!.GetValue<double>() / r["http_idle"]!["single_stream"]!["p99_ms"]!.GetValue<double>(), 3)
                : null)).ToArray()),
            ["redis_bytes_per_image_max"] = rows.Max(r => r!["redis_bytes_per_image"]!.GetValue<double>()),
            ["failed_requests"] = report["failed_requests"]!.GetValue<long>(),
            ["silo_log_errors"] = report["silo_log_errors"]!.GetValue<int>(),
        };
        if (report["in_process"]?["sizes"] is JsonArray inProcess)
        {
            targets["avg_over_two_tower_qps"] = new JsonArray(inProcess.Select(r => (JsonNode?)new JsonObject
            {
                ["images"] = r!["images"]!.GetValue<int>(),
                ["ratio"] = r["avg_over_two_tower_qps"]!.GetValue<double>(),
            }).ToArray());
        }

        return targets;
    }

    /// <summary>The in-process report's rows, each with the cluster's HTTP figures as one more method.</summary>
    private static JsonObject ChartReport(JsonObject report)
    {
        var chart = JsonNode.Parse((report["in_process"] ?? new JsonObject { ["sizes"] = new JsonArray() }).ToJsonString())!.AsObject();
        var rows = chart["sizes"]!.AsArray();
        foreach (var cluster in report["cluster"]!.AsArray())
        {
            var images = cluster!["images"]!.GetValue<int>();
            var row = rows.FirstOrDefault(r => r!["images"]!.GetValue<int>() == images)?.AsObject();
            if (row is null)
            {
                rows.Add(row = new JsonObject { ["images"] = images });
            }

            row["avg_http"] = new JsonObject
            {
                ["qps"] = cluster["http_idle"]!["single_stream"]!["qps"]!.GetValue<double>(),
                ["r_at_10"] = cluster["http_idle"]!["r_at_10"]!.GetValue<double>(),
            };
        }

        chart["title"] = "avg-bench scale";
        chart["bundle"] = report["bundle"]!.GetValue<string>();
        chart["beam"] ??= 20;
        chart["k"] ??= 10;
        chart["queries"] ??= report["queries"]!.GetValue<int>();
        chart["threads"] ??= 1;
        return chart;
    }

    private async Task<(Latencies Latencies, double Recall)> SingleStreamAsync(HttpClient http, (string Text, string Truth)[] queries)
    {
        for (var i = 0; i < 10; i++)
        {
            await SearchAsync(http, queries[i % queries.Length].Text).ConfigureAwait(false);
        }

        var latencies = new Latencies();
        var found = 0;
        foreach (var (text, truth) in queries)
        {
            var clock = Stopwatch.StartNew();
            var (ids, siloMs) = await SearchAsync(http, text).ConfigureAwait(false);
            latencies.Add(clock.Elapsed.TotalMilliseconds, siloMs);
            found += ids.Contains(truth) ? 1 : 0;
        }

        latencies.Seconds = latencies.Sum / 1000;
        return (latencies, (double)found / queries.Length);
    }

    private async Task<Latencies> ConcurrentAsync(HttpClient http, (string Text, string Truth)[] queries)
    {
        var latencies = new Latencies();
        var next = -1;
        var total = queries.Length * 2;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, _options.Clients).Select(async _ =>
        {
            int q;
            while ((q = Interlocked.Increment(ref next)) < total)
            {
                var one = Stopwatch.StartNew();
                var (_, siloMs) = await SearchAsync(http, queries[q % queries.Length].Text).ConfigureAwait(false);
                latencies.Add(one.Elapsed.TotalMilliseconds, siloMs);
            }
        })).ConfigureAwait(false);
        latencies.Seconds = clock.Elapsed.TotalSeconds;
        return latencies;
    }

    /// <summary>One client queries back to back while ingest runs; all clients join for its last tenth.</summary>
    private async Task<(Latencies? Single, Latencies? Concurrent)> DuringIngestAsync(HttpClient http, (string Text, string Truth)[] queries, Ingest ingest, CancellationToken stop)
    {
        var single = new Latencies();
        var concurrent = new Latencies();
        var concurrentClock = new Stopwatch();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, _options.Clients).Select(async worker =>
        {
            while (!stop.IsCancellationRequested)
            {
                var together = ingest.StepProgress >= 0.9;
                if (!together && worker > 0)
                {
                    await Task.Delay(20, CancellationToken.None).ConfigureAwait(false);
                    continue;
                }

                if (together && !concurrentClock.IsRunning)
                {
                    lock (concurrentClock)
                    {
                        if (!concurrentClock.IsRunning)
                        {
                            concurrentClock.Start();
                        }
                    }
                }

                var one = Stopwatch.StartNew();
                var (_, siloMs) = await SearchAsync(http, queries[Interlocked.Increment(ref next) % queries.Length].Text).ConfigureAwait(false);
                (together ? concurrent : single).Add(one.Elapsed.TotalMilliseconds, siloMs);
            }
        })).ConfigureAwait(false);
        single.Seconds = single.Sum / 1000;
        concurrent.Seconds = concurrentClock.Elapsed.TotalSeconds;
        return (single.Count > 0 ? single : null, concurrent.Count > 0 ? concurrent : null);
    }

    /// <summary>The ids found, and the silo's own time for the search (<c>timing.totalMs</c>; NaN when the answer failed).</summary>
    private async Task<(string[] Ids, double SiloMs)> SearchAsync(HttpClient http, string query)
    {
        var clock = Stopwatch.StartNew();
        using var response = await http.PostAsync(new Uri("/v1/search", UriKind.Relative), JsonContent(new JsonObject { ["query"] = query, ["k"] = 10, ["beam"] = Beam })).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            Interlocked.Increment(ref _failedQueries);
            log.WriteLine(Invariant($"search answered {(int)response.StatusCode}: {text[..Math.Min(text.Length, 300)]}"));
            return ([], double.NaN);
        }

        var parsed = JsonNode.Parse(text)!;
        // A slow answer whose silo-side totalMs is small was delayed outside the query grain (HTTP, thread pool, GC).
        // AVG_SCALE_TRACE=1 logs answers slower than 80 ms; a larger value is the threshold in ms.
        if (TraceAboveMs is { } above && clock.Elapsed.TotalMilliseconds > above && parsed["timing"] is { } timing)
            log.WriteLine(Invariant($"slow: client {clock.Elapsed.TotalMilliseconds:F0} ms, silo {timing.ToJsonString()}"));
        var siloMs = parsed["timing"]?["totalMs"]?.GetValue<double>() ?? double.NaN;
        return (parsed["results"]!.AsArray().Select(i => i!["imageId"]!.GetValue<string>()).ToArray(), siloMs);
    }

    private static readonly double? TraceAboveMs = Environment.GetEnvironmentVariable("AVG_SCALE_TRACE") is { } trace
        ? (double.TryParse(trace, CultureInfo.InvariantCulture, out var ms) && ms > 1 ? ms : 80)
        : null;

    private static ByteArrayContent JsonContent(JsonNode body)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static double CpuSeconds(IEnumerable<Silo> silos) => silos.Sum(s => LocalCluster.CpuSeconds(s.Child));

    private sealed record Silo(ChildProcess Child, string Roles, string LogPath, int HttpPort);

    /// <summary>
    /// This process's garbage collections: the benchmark's own ingest client (JSON of feature batches) allocates in the
    /// process that times the queries, so its pauses show in the client-side latencies, not in the silo's.
    /// </summary>
    private readonly record struct ClientGc(int Collections, double PauseMs)
    {
        public static ClientGc Now() => new(GC.CollectionCount(0), GC.GetTotalPauseDuration().TotalMilliseconds);

        public static ClientGc operator -(ClientGc a, ClientGc b) => new(a.Collections - b.Collections, a.PauseMs - b.PauseMs);

        public JsonObject ToJson() => new() { ["collections"] = Collections, ["pause_ms"] = Math.Round(PauseMs, 1) };
    }

    /// <summary>Kills every silo still running when the run ends early.</summary>
    private sealed class SiloSet(List<Silo> silos) : IDisposable
    {
        public void Dispose()
        {
            foreach (var silo in silos)
            {
                silo.Child.Dispose();
            }
        }
    }

    /// <summary>Sends each request to the next of the model silos' HTTP endpoints in turn (a load balancer in front of them).</summary>
    private sealed class RoundRobinHandler(Uri[] endpoints) : DelegatingHandler(new HttpClientHandler())
    {
        private int _next = -1;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var endpoint = endpoints[(int)((uint)Interlocked.Increment(ref _next) % (uint)endpoints.Length)];
            request.RequestUri = new Uri(endpoint, request.RequestUri!.PathAndQuery);
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>Latencies of one phase, thread-safe to add to.</summary>
    private sealed class Latencies
    {
        private readonly ConcurrentBag<double> _ms = [];

        /// <summary>The silo's own time for each search (<c>timing.totalMs</c>): what the client's time holds beyond it is transport and the client process.</summary>
        private readonly ConcurrentBag<double> _siloMs = [];

        public int Count => _ms.Count;

        public double Sum => _ms.Sum();

        /// <summary>Wall time of the phase (for queries/s).</summary>
        public double Seconds { get; set; }

        public double Qps => Seconds > 0 ? Count / Seconds : 0;

        public double P50 => LatencySummary.Percentile(_ms.Order().ToArray(), 50);

        public double P99 => LatencySummary.Percentile(_ms.Order().ToArray(), 99);

        public void Add(double ms, double siloMs)
        {
            _ms.Add(ms);
            if (double.IsFinite(siloMs))
            {
                _siloMs.Add(siloMs);
            }
        }

        public JsonObject ToJson()
        {
            var silo = _siloMs.Order().ToArray();
            return new()
            {
                ["queries"] = Count,
                ["qps"] = Math.Round(Qps, 1),
                ["p50_ms"] = Math.Round(P50, 2),
                ["p99_ms"] = Math.Round(P99, 2),
                ["silo_p50_ms"] = silo.Length == 0 ? null : Math.Round(LatencySummary.Percentile(silo, 50), 2),
                ["silo_p99_ms"] = silo.Length == 0 ? null : Math.Round(LatencySummary.Percentile(silo, 99), 2),
            };
        }
    }

    /// <summary>Feature-vector ingest over HTTP, batch by batch, with the time each batch completed.</summary>
    private sealed class Ingest(HttpClient http, float[] vectors, int width, ScaleBenchmarkOptions options, TextWriter log)
    {
        private readonly ConcurrentBag<(double At, int Images, int Upto)> _done = [];
        /// <summary>Runs only while a step ingests: the measurements between steps are not ingest time.</summary>
        private readonly Stopwatch _clock = new();
        private long _failed;
        private int _stepFrom;
        private int _stepTo;
        private int _stepDone;

        public long Failed => Interlocked.Read(ref _failed);

        /// <summary>Share of the current step's images indexed so far.</summary>
        public double StepProgress => _stepTo > _stepFrom ? (double)Volatile.Read(ref _stepDone) / (_stepTo - _stepFrom) : 1;

        /// <summary>Indexes images [from, to) while <paramref name="alongside"/> runs; returns what it measured.</summary>
        public async Task<(int From, Latencies? Single, Latencies? Concurrent)> RunAsync(int from, int to, Func<CancellationToken, Task<(Latencies? Single, Latencies? Concurrent)>> alongside)
        {
            (_stepFrom, _stepTo, _stepDone) = (from, to, 0);
            _clock.Start();
            using var stop = new CancellationTokenSource();
            var queries = alongside(stop.Token);
            var next = from - options.Batch;
            var lastReport = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, options.Parallel).Select(async _ =>
            {
                int start;
                while ((start = Interlocked.Add(ref next, options.Batch)) < to)
                {
                    var count = Math.Min(options.Batch, to - start);
                    await SendAsync(start, count).ConfigureAwait(false);
                    var done = Interlocked.Add(ref _stepDone, count);
                    _done.Add((_clock.Elapsed.TotalSeconds, count, start + count));
                    if (lastReport.Elapsed.TotalSeconds >= 10)
                    {
                        lastReport.Restart();
                        log.WriteLine(Invariant($"ingest {from + done}/{to} images ({Rate(from, from + done):F0} images/s over this step)"));
                    }
                }
            })).ConfigureAwait(false);
            _clock.Stop();
            await stop.CancelAsync().ConfigureAwait(false);
            var (single, concurrent) = await queries.ConfigureAwait(false);
            return (from, single, concurrent);
        }

        /// <summary>Images/s between the moments images <paramref name="from"/> and <paramref name="to"/> were reached (by count indexed).</summary>
        public double Rate(int from, int to)
        {
            var done = _done.OrderBy(d => d.At).ToArray();
            double TimeAt(int images)
            {
                var total = 0;
                foreach (var d in done)
                {
                    total += d.Images;
                    if (total >= images)
                    {
                        return d.At;
                    }
                }

                return done.Length > 0 ? done[^1].At : 0;
            }

            var start = from == 0 ? 0 : TimeAt(from);
            var seconds = TimeAt(to) - start;
            return seconds > 0 ? (to - from) / seconds : 0;
        }

        /// <summary>Images/s over each tenth of the images indexed (by count), first to last, on the ingest clock.</summary>
        public double[] Tenths(int total)
        {
            var rates = new double[10];
            var images = 0;
            var tenth = 0;
            var start = 0.0;
            foreach (var d in _done.OrderBy(d => d.At))
            {
                images += d.Images;
                while (tenth < 10 && images >= (long)(tenth + 1) * total / 10)
                {
                    rates[tenth] = (total / 10.0) / Math.Max(d.At - start, 1e-6);
                    start = d.At;
                    tenth++;
                }
            }

            return rates;
        }

        private Task SendAsync(int start, int count) =>
            FeatureIngest.SendAsync(http, vectors, width, start, count, row => row, log, () => Interlocked.Increment(ref _failed));
    }
}
