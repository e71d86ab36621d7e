using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Avg;
using Avg.Client;
using Avg.Cluster.Hosting;
using Avg.Cluster.Testing;
using Avg.Data;
using Avg.Models.Encoders;
using Avg.Models.Pipeline;

namespace Avg.Cluster.Bench;

/// <summary>
/// <c>avg-cluster-bench chaos</c>: the faults of the integration tests (docs/cluster.md, "Faults") at a larger scale,
/// on real processes — redis-server and four avg-silo processes on loopback ports, the roles apart as the Helm chart
/// deploys them (two model silos, two partitions silos) — with ingest (batches sent again until acknowledged, as the SDK's contract says) and query load
/// running while the fault happens. Prints one JSON object per fault: images acknowledged and present afterwards,
/// queries attempted and answered, recovery times. Processes and their helpers are the integration tests' own
/// (<c>src/Avg.Cluster.Testing</c>, shared with <c>tests/Avg.Cluster.IntegrationTests</c>).
/// </summary>
internal static class ChaosBenchmark
{
    public const string Usage =
        "avg-cluster-bench chaos --bundle DIR --data DIR [--images 10000] [--batch 100] [--query-clients 2] " +
        "[--faults redis-gone,redis-restart,kill-model-silo,kill-partitions-silo,hang-partitions-silo] [--logs DIR]";

    private static readonly string[] AllFaults = ["redis-gone", "redis-restart", "kill-model-silo", "kill-partitions-silo", "hang-partitions-silo"];

    public static async Task<int> RunAsync(string[] args)
    {
        ChaosArgs options;
        try
        {
            options = ChaosArgs.Parse(args, AllFaults);
        }
        catch (AvgException e)
        {
            await Console.Error.WriteLineAsync($"avg-cluster-bench chaos: {e.Message}\nusage: {Usage}").ConfigureAwait(false);
            return 2;
        }

        var workload = ChaosWorkload.Prepare(options);
        await Console.Error.WriteLineAsync($"chaos: {workload.Batches.Length} batches of {options.Batch} feature vectors, {workload.Captions.Length} captions; faults {string.Join(", ", options.Faults)}").ConfigureAwait(false);
        foreach (var fault in options.Faults)
        {
            var clock = Stopwatch.StartNew();
            JsonObject result;
            try
            {
                result = await RunFaultAsync(fault, options, workload).ConfigureAwait(false);
            }
            catch (Exception e) when (e is AvgRequestException or AvgException or TimeoutException or InvalidOperationException or HttpRequestException)
            {
                result = new JsonObject { ["fault"] = fault, ["error"] = $"{e.GetType().Name}: {e.Message}" };
            }

            result["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 1);
            Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }

        return 0;
    }

    private static async Task<JsonObject> RunFaultAsync(string fault, ChaosArgs options, ChaosWorkload workload)
    {
        using var cluster = await ChaosCluster.StartAsync(options, fault, appendOnly: fault == "redis-restart").ConfigureAwait(false);
        using var ingest = new AcknowledgedIngest(cluster.HttpPorts, TimeSpan.FromMinutes(2));
        var half = workload.Batches.Length / 2;
        await ingest.RunAsync(workload.Batches[..half]).ConfigureAwait(false);
        var report = new JsonObject
        {
            ["fault"] = fault,
            ["images_before_fault"] = ingest.Acknowledged.Count,
        };

        await using var queries = QueryLoad.Start(cluster.QueryPorts, workload.Captions, options.QueryClients);
        await Task.Delay(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        var rest = workload.Batches[half..];
        switch (fault)
        {
            case "redis-gone":
                await RedisGoneAsync(cluster, ingest, rest, queries, report).ConfigureAwait(false);
                return report;
            case "redis-restart":
                await DuringIngestAsync(ingest, rest, report, queries, async () =>
                {
                    cluster.Redis.KillHard();
                    await cluster.Redis.WaitForExitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
                    var killed = queries.Now;
                    await Task.Delay(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                    await cluster.RestartRedisAsync().ConfigureAwait(false);
                    return (killed, queries.Now);
                }).ConfigureAwait(false);
                break;
            case "kill-model-silo":
                await DuringIngestAsync(ingest, rest, report, queries, () =>
                {
                    cluster.Silos[1].KillHard();
                    return Task.FromResult((queries.Now, queries.Now));
                }).ConfigureAwait(false);
                break;
            case "kill-partitions-silo":
                await DuringIngestAsync(ingest, rest, report, queries, () =>
                {
                    cluster.Silos[3].KillHard();
                    return Task.FromResult((queries.Now, queries.Now));
                }).ConfigureAwait(false);
                break;
            case "hang-partitions-silo":
                await DuringIngestAsync(ingest, rest, report, queries, async () =>
                {
                    cluster.Silos[3].Pause();
                    var stopped = queries.Now;
                    await Task.Delay(TimeSpan.FromSeconds(8)).ConfigureAwait(false);
                    cluster.Silos[3].Resume();
                    return (stopped, queries.Now);
                }).ConfigureAwait(false);
                break;
            default:
                throw new AvgException($"unknown fault '{fault}'");
        }

        report["recovery"] = await RecoveryAsync(ingest, queries, (double)report["fault_at_s"]!).ConfigureAwait(false);
        report["queries"] = queries.Summary((double)report["fault_at_s"]!, (double)report["healed_at_s"]!);
        return report;
    }

    /// <summary>Ingests <paramref name="batches"/>; after a third of them, <paramref name="inject"/> the fault (returns when it started and ended, on the query load's clock).</summary>
    private static async Task DuringIngestAsync(AcknowledgedIngest ingest, ImageToIndex[][] batches, JsonObject report, QueryLoad queries, Func<Task<(double Start, double End)>> inject)
    {
        Task<(double Start, double End)>? fault = null;
        var clock = Stopwatch.StartNew();
        var firstAckAfter = (double?)null;
        var faultBatch = batches.Length / 3;
        await ingest.RunAsync(batches, batch =>
        {
            if (batch == faultBatch)
            {
                fault = Task.Run(inject);
            }
            else if (fault is { IsCompleted: true } && firstAckAfter is null)
            {
                firstAckAfter = queries.Now;
            }

            return Task.CompletedTask;
        }).ConfigureAwait(false);
        var (start, end) = await fault!.ConfigureAwait(false);
        report["fault_at_s"] = Math.Round(start, 2);
        report["healed_at_s"] = Math.Round(end, 2);
        report["ingest"] = new JsonObject
        {
            ["batches"] = batches.Length,
            ["images_acknowledged"] = ingest.Acknowledged.Count,
            ["attempts_refused"] = ingest.RefusedAttempts,
            ["sdk_calls_sent_again"] = ingest.FailedAttempts,
            ["seconds_for_all_batches"] = Math.Round(clock.Elapsed.TotalSeconds, 2),
            ["first_batch_acknowledged_after_fault_ended_s"] = firstAckAfter is { } t ? Math.Round(t - end, 2) : null,
        };
    }

    /// <summary>Polls until the index holds exactly what was acknowledged (count, each id, partitions adding up) and a search answers complete; times from the fault.</summary>
    private static async Task<JsonObject> RecoveryAsync(AcknowledgedIngest ingest, QueryLoad queries, double faultAt)
    {
        var client = ingest.Clients[0];
        var deadline = Stopwatch.StartNew();
        (long Images, long InPartitions, int Found, string[] Missing) last = default;
        string? error = null;
        while (deadline.Elapsed < TimeSpan.FromMinutes(2))
        {
            try
            {
                last = await IndexCheck.CountAsync(client, ingest.Acknowledged).ConfigureAwait(false);
                error = null;
                if (last.Images == ingest.Acknowledged.Count && last.InPartitions == ingest.Acknowledged.Count && last.Found == ingest.Acknowledged.Count)
                {
                    break;
                }
            }
            catch (AvgRequestException e)
            {
                error = e.Message;
            }

            await Task.Delay(500).ConfigureAwait(false);
        }

        var consistentAt = queries.Now;
        var completeAnswer = queries.FirstCompleteAnswerAfter(faultAt);
        return new JsonObject
        {
            ["images_acknowledged"] = ingest.Acknowledged.Count,
            ["images_present"] = last.Found,
            ["index_count"] = last.Images,
            ["partitions_count_sum"] = last.InPartitions,
            ["lost"] = ingest.Acknowledged.Count - last.Found,
            ["index_consistent_after_fault_s"] = Math.Round(consistentAt - faultAt, 2),
            ["first_complete_answer_after_fault_s"] = completeAnswer is { } c ? Math.Round(c - faultAt, 2) : null,
            ["last_error"] = error,
            ["missing_examples"] = new JsonArray(last.Missing?.Take(5).Select(m => (JsonNode)m).ToArray() ?? []),
        };
    }

    /// <summary>Redis killed for good: ingest attempts (no retries) must be 503 with Retry-After; searches go on; then SIGTERM of a silo must end it within its shutdown budget.</summary>
    private static async Task RedisGoneAsync(ChaosCluster cluster, AcknowledgedIngest ingest, ImageToIndex[][] batches, QueryLoad queries, JsonObject report)
    {
        cluster.Redis.KillHard();
        await cluster.Redis.WaitForExitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        var faultAt = queries.Now;
        report["fault_at_s"] = Math.Round(faultAt, 2);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        var statuses = new SortedDictionary<int, int>();
        var (withRetryAfter, problems, slowestMs, attempts) = (0, 0, 0.0, 0);
        var window = Stopwatch.StartNew();
        while (window.Elapsed < TimeSpan.FromSeconds(10))
        {
            var batch = batches[attempts % batches.Length];
            var port = cluster.HttpPorts[attempts % cluster.HttpPorts.Count];
            attempts++;
            var clock = Stopwatch.StartNew();
            using var response = await http.PostAsJsonAsync(new Uri($"http://127.0.0.1:{port}/v1/images"), new
            {
                images = batch.Select(i => new { id = i.Id, features = i.Features!.Value.ToArray() }),
            }).ConfigureAwait(false);
            slowestMs = Math.Max(slowestMs, clock.Elapsed.TotalMilliseconds);
            var status = (int)response.StatusCode;
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            withRetryAfter += response.Headers.RetryAfter is not null ? 1 : 0;
            problems += response.Content.Headers.ContentType?.MediaType == "application/problem+json" ? 1 : 0;
            await Task.Delay(200).ConfigureAwait(false);
        }

        report["ingest_without_redis"] = new JsonObject
        {
            ["attempts"] = attempts,
            ["statuses"] = new JsonObject(statuses.Select(s => KeyValuePair.Create(s.Key.ToString(CultureInfo.InvariantCulture), (JsonNode?)s.Value))),
            ["with_retry_after"] = withRetryAfter,
            ["problem_json"] = problems,
            ["slowest_answer_ms"] = Math.Round(slowestMs, 1),
        };

        var (images, inPartitions, found, _) = await IndexCheck.CountAsync(ingest.Clients[0], ingest.Acknowledged).ConfigureAwait(false);
        report["images_acknowledged"] = ingest.Acknowledged.Count;
        report["images_present"] = found;
        report["index_count"] = images;
        report["partitions_count_sum"] = inPartitions;
        report["queries"] = queries.Summary(faultAt, queries.Now);

        var stopping = Stopwatch.StartNew();
        cluster.Silos[0].Terminate();
        var code = await cluster.Silos[0].WaitForExitAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        report["sigterm_without_redis"] = new JsonObject
        {
            ["exit_code"] = code,
            ["seconds"] = Math.Round(stopping.Elapsed.TotalSeconds, 2),
            ["shutdown_budget_seconds"] = ChaosCluster.ShutdownSeconds,
        };
    }
}

/// <summary>The chaos command's settings.</summary>
internal sealed record ChaosArgs(string Bundle, string Data, int Images, int Batch, int QueryClients, string[] Faults, string? Logs)
{
    public static ChaosArgs Parse(string[] args, string[] allFaults)
    {
        var reader = new ArgReader(args);
        var (bundle, data) = (reader.Bundle(), reader.Data());
        var faults = reader.Value("--faults")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? allFaults;
        if (faults.FirstOrDefault(f => !allFaults.Contains(f)) is { } unknown)
        {
            throw new AvgException($"--faults: unknown fault '{unknown}'; known: {string.Join(", ", allFaults)}");
        }

        return new ChaosArgs(bundle, data, reader.Int("--images", 10_000), reader.Int("--batch", 100), reader.Int("--query-clients", 2), faults, reader.Value("--logs"));
    }
}

/// <summary>What every fault ingests and searches: feature vectors near the dataset's images (so they spread over partitions as images do), and its captions.</summary>
internal sealed record ChaosWorkload(ImageToIndex[][] Batches, string[] Captions)
{
    public static ChaosWorkload Prepare(ChaosArgs options)
    {
        var dataset = KarpathyReader.Load(options.Data);
        var images = dataset.Images.ToArray();
        float[] features;
        int width;
        using (var model = AvgModel.Load(options.Bundle, "cpu"))
        {
            var size = model.Config.ImageSize;
            features = model.EncodeImages(ImageData.FromBytes(ImageDecoder.DecodeAll(dataset, images, size), images.Length, size, size));
            width = model.Tokenizer.Options.InputDim;
        }

        var random = new Random(11);
        var vectors = new ImageToIndex[options.Images];
        for (var n = 0; n < vectors.Length; n++)
        {
            var row = new float[width];
            var source = features.AsSpan((n % images.Length) * width, width);
            var norm = 0.0;
            for (var j = 0; j < width; j++)
            {
                row[j] = source[j] + (float)(0.05 * ((random.NextDouble() * 2) - 1));
                norm += row[j] * row[j];
            }

            for (var j = 0; j < width; j++)
            {
                row[j] /= (float)Math.Sqrt(norm);
            }

            vectors[n] = ImageToIndex.FromFeatures("c" + n.ToString(CultureInfo.InvariantCulture), row);
        }

        return new ChaosWorkload(vectors.Chunk(options.Batch).ToArray(), images.SelectMany(i => i.Captions).Take(500).ToArray());
    }
}

/// <summary>redis-server and four avg-silo processes: silos 0 and 1 with the model role, 2 and 3 with the partitions role.</summary>
internal sealed class ChaosCluster : IDisposable
{
    public const int ShutdownSeconds = 5;

    private readonly string _logs;
    private readonly bool _keepLogs;
    private readonly int _redisPort;
    private readonly string? _appendOnly;
    private readonly List<ChildProcess> _processes = [];

    private ChaosCluster(string logs, bool keepLogs, int redisPort, string? appendOnly)
    {
        _logs = logs;
        _keepLogs = keepLogs;
        _redisPort = redisPort;
        _appendOnly = appendOnly;
    }

    public ChildProcess Redis { get; private set; } = null!;

    public List<ChildProcess> Silos { get; } = [];

    public List<int> HttpPorts { get; } = [];

    /// <summary>The HTTP ports queries go to: the model silos'.</summary>
    public IReadOnlyList<int> QueryPorts => HttpPorts.Take(2).ToArray();

    public static async Task<ChaosCluster> StartAsync(ChaosArgs options, string fault, bool appendOnly)
    {
        var logs = options.Logs is { } root ? Path.Combine(root, fault) : Path.Combine(Path.GetTempPath(), "avg-chaos-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(logs);
        var aof = appendOnly ? Directory.CreateDirectory(Path.Combine(logs, "aof")).FullName : null;
        var ports = LoopbackPorts.Take(13);
        var cluster = new ChaosCluster(logs, options.Logs is not null, ports[0], aof);
        cluster.Redis = await ChildProcess.StartRedisAsync(ports[0], logs, aof).ConfigureAwait(false);
        cluster._processes.Add(cluster.Redis);
        var clusterId = "chaos-" + Guid.NewGuid().ToString("N")[..8];
        string[] roles = ["model", "model", "partitions", "partitions"];
        for (var s = 0; s < roles.Length; s++)
        {
            var env = SiloEnvironment.For(Path.GetFullPath(options.Bundle), ports[0], clusterId, ports[1 + (3 * s)], ports[2 + (3 * s)], ports[3 + (3 * s)]);
            env["Avg__Roles"] = roles[s];
            env["Avg__FailureDetectionSeconds"] = "4";
            env["Avg__QueryTimeoutMs"] = "2000";
            env["Avg__ShutdownSeconds"] = ShutdownSeconds.ToString(CultureInfo.InvariantCulture);
            env["Avg__CompactionMinimum"] = "256";
            var silo = ChildProcess.Start($"silo{s}", "dotnet", [Locations.SiloDll()], env, logs);
            cluster._processes.Add(silo);
            cluster.Silos.Add(silo);
            cluster.HttpPorts.Add(ports[3 + (3 * s)]);
        }

        for (var s = 0; s < roles.Length; s++)
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{cluster.HttpPorts[s]}"), Timeout = TimeSpan.FromSeconds(5) };
            await cluster.Silos[s].WaitReadyAsync(http, TimeSpan.FromMinutes(2)).ConfigureAwait(false);
        }

        return cluster;
    }

    /// <summary>redis-server again on the same port and append-only folder.</summary>
    public async Task RestartRedisAsync()
    {
        Redis = await ChildProcess.StartRedisAsync(_redisPort, _logs, _appendOnly, "redis-restarted").ConfigureAwait(false);
        _processes.Add(Redis);
    }

    public void Dispose()
    {
        foreach (var process in Enumerable.Reverse(_processes))
        {
            if (!process.HasExited)
            {
                process.Resume(); // a paused silo is killed like the others
            }

            process.Dispose();
        }

        if (!_keepLogs)
        {
            try
            {
                Directory.Delete(_logs, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

/// <summary>Search clients looping over captions on the model silos' HTTP APIs, each answer (or failure) recorded with its time.</summary>
internal sealed class QueryLoad : IAsyncDisposable
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ConcurrentQueue<(double At, int Status, bool Partial, double Ms)> _answers = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private Task _workers = Task.CompletedTask;

    /// <summary>Seconds since the load started: the clock every time in a fault's report is on.</summary>
    public double Now => _clock.Elapsed.TotalSeconds;

    public static QueryLoad Start(IReadOnlyList<int> ports, string[] captions, int clients)
    {
        var load = new QueryLoad();
        load._workers = Task.WhenAll(Enumerable.Range(0, clients).Select(c => load.WorkerAsync(ports, captions, c)));
        return load;
    }

    /// <summary>Failed searches by HTTP status ("no_answer" when none came).</summary>
    private static JsonObject FailedByStatus(IEnumerable<(double At, int Status, bool Partial, double Ms)> answers) =>
        new(answers.Where(a => a.Status is < 200 or >= 300).GroupBy(a => a.Status).OrderBy(g => g.Key)
            .Select(g => KeyValuePair.Create(g.Key == 0 ? "no_answer" : g.Key.ToString(CultureInfo.InvariantCulture), (JsonNode?)g.Count())));

    /// <summary>First answered search after <paramref name="after"/> (s) that was not partial.</summary>
    public double? FirstCompleteAnswerAfter(double after) =>
        _answers.Where(a => a.At > after && a.Status is >= 200 and < 300 && !a.Partial).Select(a => (double?)a.At).Min();

    public JsonObject Summary(double faultAt, double healedAt)
    {
        var all = _answers.ToArray();
        var during = all.Where(a => a.At >= faultAt && a.At <= healedAt + 0.001).ToArray();
        var after = all.Where(a => a.At > faultAt).ToArray();
        var firstAnswered = after.Where(a => a.Status is >= 200 and < 300).Select(a => (double?)a.At).Min();
        var latencies = after.Where(a => a.Status is >= 200 and < 300).Select(a => a.Ms).Order().ToArray();
        return new JsonObject
        {
            ["attempted"] = all.Length,
            ["answered"] = all.Count(a => a.Status is >= 200 and < 300),
            ["partial"] = all.Count(a => a.Partial),
            ["attempted_after_fault"] = after.Length,
            ["answered_after_fault"] = after.Count(a => a.Status is >= 200 and < 300),
            ["attempted_during_fault"] = during.Length,
            ["answered_during_fault"] = during.Count(a => a.Status is >= 200 and < 300),
            ["failed_by_status"] = FailedByStatus(after),
            ["failed_before_fault_by_status"] = FailedByStatus(all.Where(a => a.At <= faultAt)),
            ["first_answer_after_fault_s"] = firstAnswered is { } f ? Math.Round(f - faultAt, 2) : null,
            ["p50_ms_after_fault"] = latencies.Length == 0 ? null : Math.Round(latencies[latencies.Length / 2], 1),
            ["p99_ms_after_fault"] = latencies.Length == 0 ? null : Math.Round(latencies[Math.Min(latencies.Length - 1, (int)Math.Ceiling(0.99 * latencies.Length) - 1)], 1),
            ["max_ms_after_fault"] = latencies.Length == 0 ? null : Math.Round(latencies[^1], 1),
        };
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _workers.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
        _http.Dispose();
    }

    /// <summary>One client: stays on a silo while it answers, moves to the next after a failure (as a load balancer would).</summary>
    private async Task WorkerAsync(IReadOnlyList<int> ports, string[] captions, int offset)
    {
        var silo = offset;
        for (var q = offset; !_stop.IsCancellationRequested; q++)
        {
            var uri = new Uri($"http://127.0.0.1:{ports[silo % ports.Count]}/v1/search");
            var at = Now;
            var clock = Stopwatch.StartNew();
            try
            {
                using var response = await _http.PostAsJsonAsync(uri, new { query = captions[q % captions.Length], k = 10, beam = 20 }, _stop.Token).ConfigureAwait(false);
                var text = await response.Content.ReadAsStringAsync(_stop.Token).ConfigureAwait(false);
                var partial = response.IsSuccessStatusCode && JsonNode.Parse(text)?["partial"]?.GetValue<bool>() == true;
                _answers.Enqueue((at, (int)response.StatusCode, partial, clock.Elapsed.TotalMilliseconds));
                if (!response.IsSuccessStatusCode)
                {
                    silo++;
                    await Task.Delay(100, _stop.Token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !_stop.IsCancellationRequested)
            {
                _answers.Enqueue((at, 0, false, clock.Elapsed.TotalMilliseconds));
                silo++;
                await Task.Delay(100, _stop.Token).ConfigureAwait(false);
            }
        }
    }
}
