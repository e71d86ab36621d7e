using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Avg.Client;
using Avg.Cluster.Hosting;
using Avg.Cluster.Testing;
using Avg.Data;
using Avg.Models.Pipeline;
using Avg.Retrieval;
using Avg.Tests.Support;
using Xunit.Abstractions;

namespace Avg.Cluster.IntegrationTests;

/// <summary>
/// redis-server plus three avg-silo processes on loopback ports — two model silos, one partitions-only — started and
/// stopped by the test: index the Shapes test split over HTTP, search over HTTP and compare with the in-process search,
/// then SIGKILL one model silo during a second ingest and under query load, and measure how long until queries succeed
/// again; afterwards every acknowledged image is found (count, each id with its vokens, partitions adding up) and
/// every query equals the in-process search over everything acknowledged (partitions reactivated from Redis).
/// </summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public sealed class MultiProcessClusterTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>Membership failure detection window given to the silos (Avg__FailureDetectionSeconds).</summary>
    private const int FailureDetectionSeconds = 4;

    private readonly TempDirectory _logs = new();
    private readonly List<ChildProcess> _processes = [];

    [Fact]
    public async Task Three_silo_processes_index_search_and_recover_from_a_killed_silo()
    {
        var total = Stopwatch.StartNew();
        var bundle = TinyShapesBundle.Ensure();
        var dataset = TinyShapesBundle.Dataset();
        var siloDll = Locations.SiloDll();
        var ports = LoopbackPorts.Take(10);
        var redisPort = ports[0];
        _processes.Add(await ChildProcess.StartRedisAsync(redisPort, _logs.Path));

        var clusterId = "it-" + Guid.NewGuid().ToString("N")[..8];
        var roles = new[] { "model,partitions", "model,partitions", "partitions" };
        var http = new HttpClient[3];
        for (var s = 0; s < 3; s++)
        {
            var env = SiloEnvironment.For(bundle, redisPort, clusterId, ports[1 + (3 * s)], ports[2 + (3 * s)], ports[3 + (3 * s)]);
            env["Avg__Roles"] = roles[s];
            env["Avg__Shards"] = "4";
            env["Avg__FailureDetectionSeconds"] = FailureDetectionSeconds.ToString(CultureInfo.InvariantCulture);
            // Compact after a few images, so recovery below replays stored bases and the change records after them.
            env["Avg__CompactionMinimum"] = "8";
            _processes.Add(ChildProcess.Start($"silo{s}", "dotnet", [siloDll], env, _logs.Path));
            http[s] = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{env["Avg__HttpPort"]}"), Timeout = TimeSpan.FromSeconds(30) };
        }

        for (var s = 0; s < 3; s++)
        {
            await _processes[1 + s].WaitReadyAsync(http[s], TimeSpan.FromSeconds(60));
        }

        output.WriteLine($"3 silos ready after {total.Elapsed.TotalSeconds:F1}s");

        // Index the test split through the partitions-only silo's HTTP API (it forwards to the model silos' shards).
        var test = dataset.Images.Where(i => i.Split == Split.Test).ToArray();
        var indexed = new List<(string Id, int[] Vokens, byte[] Fine)>();
        foreach (var batch in test.Chunk(20))
        {
            var response = await http[2].PostAsJsonAsync("/v1/images", new
            {
                images = batch.Select(i => new { id = i.Index.ToString(CultureInfo.InvariantCulture), imageBase64 = Convert.ToBase64String(File.ReadAllBytes(dataset.ImagePath(i))) }),
            });
            var text = await response.Content.ReadAsStringAsync();
            response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
            indexed.AddRange(JsonNode.Parse(text)!["indexed"]!.AsArray().Select(n => ((string)n!["id"]!, n["vokens"]!.AsArray().Select(v => (int)v!).ToArray(),
                n["fine"]!.AsArray().Select(v => (byte)(int)v!).ToArray())));
        }

        indexed.Count.ShouldBe(test.Length);
        var stats = await StatsAsync(http[0]);
        ((int)stats["images"]!).ShouldBe(test.Length);
        stats["silos"]!.AsArray().Count.ShouldBe(3);

        // Search over HTTP (each silo in turn) equals the in-process search over the whole trie.
        var trie = VokenTrie.Build(indexed.Select(i => (long.Parse(i.Id, CultureInfo.InvariantCulture), i.Vokens)).ToList(), indexed[0].Vokens.Length, TinyShapesBundle.Training.CodebookSize);
        using var model = AvgModel.Load(bundle, "cpu");
        // The silos rank within collisions and divide out the train frequencies by default: so does the in-process
        // search, with the fine codes ingest returned and the default preset's prior.
        var options = new SearchOptions { K = 10, Beam = 8, CollisionWeight = TinyShapesBundle.CollisionWeight, Prior = model.SearchPrior(null) };
        indexed.ShouldAllBe(i => i.Fine.Length == model.Fine!.Levels);
        using var searcher = model.CreateSearcher(trie, options, new FineCodeTable(indexed.Select(i => (long.Parse(i.Id, CultureInfo.InvariantCulture), i.Fine))));
        var captions = test.Select(i => i.Captions[0]).ToArray();
        var expected = captions.Select(c => searcher.Search([c])[0].Select(h => h.ImageId.ToString(CultureInfo.InvariantCulture)).ToArray()).ToArray();
        var before = new string[captions.Length][];
        for (var q = 0; q < captions.Length; q++)
        {
            before[q] = await SearchAsync(http[q % 3], captions[q], options);
            before[q].ShouldBe(expected[q], $"query '{captions[q]}' over HTTP");
        }

        // Partitions are stored as a base plus change records (docs/cluster.md, "Incremental partitions"): both exist now.
        var bases = RedisKeys(redisPort, "avg:*:partition:*:base");
        var logs = RedisKeys(redisPort, "avg:*:partition:*:log");
        bases.ShouldNotBeEmpty("some partitions compacted");
        logs.ShouldNotBeEmpty("some partitions have change records after their base");
        output.WriteLine($"{bases.Length} partition bases, {logs.Length} partition change logs in Redis");

        // kill -9 one model silo while the same images are indexed again under new ids (batches of 5, each sent again
        // until acknowledged, through every silo in turn) and queries run: the survivors must take over its partitions,
        // catalog and directory buckets from Redis, and lose no acknowledged image.
        var acknowledged = indexed.ToDictionary(i => i.Id, i => (IReadOnlyList<int>)i.Vokens, StringComparer.Ordinal);
        var fineOf = indexed.ToDictionary(i => i.Id, i => i.Fine, StringComparer.Ordinal);
        using var ingest = new AcknowledgedIngest([ports[9], ports[6], ports[3]], TimeSpan.FromSeconds(60));
        var again = test.Select(i => ImageToIndex.FromImage("r" + i.Index.ToString(CultureInfo.InvariantCulture), File.ReadAllBytes(dataset.ImagePath(i)))).ToArray();
        var victim = _processes[2];
        var killedAt = Stopwatch.StartNew();
        Task? kill = null;
        using var stopQueries = new CancellationTokenSource();
        var queries = Task.Run(() => QueryLoopAsync(http[0], captions, options, killedAt, () => kill is { IsCompleted: true }, stopQueries.Token));
        await ingest.RunAsync(again.Chunk(5), batch =>
        {
            if (batch == 3)
            {
                kill = Task.Run(async () =>
                {
                    await Task.Delay(30); // into batch 4
                    victim.KillHard();
                    killedAt.Restart();
                    await Task.CompletedTask;
                });
            }

            return Task.CompletedTask;
        });
        await kill!;
        var ingestDone = killedAt.Elapsed;
        foreach (var image in ingest.Acknowledged)
        {
            acknowledged[image.Key] = image.Value;
        }

        foreach (var (id, fine) in ingest.Fine)
        {
            fineOf[id] = fine;
        }

        output.WriteLine($"ingest during kill -9: {ingest.Acknowledged.Count} of {again.Length} images acknowledged ({ingest.AcknowledgedAt.Count} batches), " +
            $"{ingest.RefusedAttempts} attempts refused and {ingest.FailedAttempts} SDK calls sent again; ingest finished {ingestDone.TotalSeconds:F2}s after the kill");
        foreach (var line in ingest.Failures.Take(10))
        {
            output.WriteLine("  " + line);
        }

        ingest.Acknowledged.Count.ShouldBe(again.Length);

        // Full recovery: every acknowledged image is found with its vokens, the counts add up, every query equals the
        // in-process search over everything acknowledged — retried until true, timed from the kill.
        // In-process image keys in the cluster's order of ids within a leaf (shortlex: shorter first, then ordinal).
        var keyOf = acknowledged.Keys.OrderBy(id => id.Length).ThenBy(id => id, StringComparer.Ordinal).ToArray();
        var allTrie = VokenTrie.Build(keyOf.Select((id, n) => ((long)n, acknowledged[id].ToArray())).ToList(), indexed[0].Vokens.Length, TinyShapesBundle.Training.CodebookSize);
        using var allSearcher = model.CreateSearcher(allTrie, options, new FineCodeTable(keyOf.Select((id, n) => ((long)n, fineOf[id]))));
        var expectedAll = captions.Select(c => allSearcher.Search([c])[0].Select(h => keyOf[h.ImageId]).ToArray()).ToArray();
        var rounds = 0;
        while (true)
        {
            rounds++;
            try
            {
                (await IndexCheck.MismatchAsync(ingest.Clients[0], acknowledged)).ShouldBeNull();
                for (var q = 0; q < captions.Length; q++)
                {
                    (await SearchAsync(http[q % 2 == 0 ? 0 : 2], captions[q], options)).ShouldBe(expectedAll[q], $"query '{captions[q]}' after the kill");
                }

                var after = await StatsAsync(http[2]);
                after["silos"]!.AsArray().Count.ShouldBe(2);
                break;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or ShouldAssertException or AvgRequestException && killedAt.Elapsed < TimeSpan.FromSeconds(60))
            {
                output.WriteLine($"  {killedAt.Elapsed.TotalSeconds:F2}s: not yet ({e.Message.Split('\n')[0]})");
                await Task.Delay(100);
            }
        }

        var recovered = killedAt.Elapsed;

        // The partitions (on all three processes, then on the two left) pushed their changes to silo 0's query cache,
        // which watches what it has fetched (docs/cluster.md, "Changes pushed to the query silos").
        var pushes = PrometheusText.Sample(await http[0].GetStringAsync(new Uri("/metrics", UriKind.Relative)), "avg_partition_cache_pushes_total");
        output.WriteLine($"silo 0 applied {pushes} pushed partition changes");
        pushes.ShouldBeGreaterThan(0, "changes reach a model silo's cache as pushes");
        await stopQueries.CancelAsync();
        var (attempted, answered, firstAnswer) = await queries;
        output.WriteLine($"queries during and after the kill: {answered} of {attempted} answered, the first {firstAnswer.TotalSeconds:F2}s after kill -9 (failure detection window {FailureDetectionSeconds}s)");
        output.WriteLine($"checked {recovered.TotalSeconds:F2}s after kill -9 ({rounds} rounds, each one stats call, {acknowledged.Count} reads and {captions.Length} queries): all {acknowledged.Count} acknowledged images found (count, every id, partitions add up), " +
            $"all {captions.Length} queries equal in-process; test took {total.Elapsed.TotalSeconds:F1}s");
        firstAnswer.ShouldBeLessThan(TimeSpan.FromSeconds(30));
        total.Elapsed.ShouldBeLessThan(TimeSpan.FromMinutes(2));
    }

    /// <summary>Queries every 100 ms until stopped: attempts, answers, and the time of the first answer after the kill (from <paramref name="sinceKill"/>).</summary>
    private static async Task<(int Attempted, int Answered, TimeSpan FirstAnswer)> QueryLoopAsync(HttpClient http, string[] captions, SearchOptions options, Stopwatch sinceKill, Func<bool> killed, CancellationToken stop)
    {
        var (attempted, answered, first) = (0, 0, TimeSpan.MaxValue);
        while (!stop.IsCancellationRequested)
        {
            var wasKilled = killed();
            attempted++;
            try
            {
                await SearchAsync(http, captions[attempted % captions.Length], options);
                answered++;
                if (wasKilled && first == TimeSpan.MaxValue)
                {
                    first = sinceKill.Elapsed;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }

            try
            {
                await Task.Delay(100, stop);
            }
            catch (OperationCanceledException)
            {
            }
        }

        return (attempted, answered, first);
    }

    public void Dispose()
    {
        foreach (var process in _processes.Where(p => p.Name.StartsWith("silo", StringComparison.Ordinal)))
        {
            output.WriteLine($"--- {process.Name} (last lines) ---\n{process.Tail(15)}");
        }

        foreach (var process in Enumerable.Reverse(_processes))
        {
            process.Dispose();
        }

        _logs.Dispose();
    }

    private static async Task<string[]> SearchAsync(HttpClient http, string query, SearchOptions options)
    {
        var response = await http.PostAsJsonAsync("/v1/search", new { query, k = options.K, beam = options.Beam });
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"search answered {(int)response.StatusCode}: {text}");
        }

        return JsonNode.Parse(text)!["results"]!.AsArray().Select(r => (string)r!["imageId"]!).ToArray();
    }

    private static async Task<string[]> SearchUntilAsync(HttpClient http, string query, SearchOptions options, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                return await SearchAsync(http, query, options);
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }

    private static async Task<JsonNode> StatsAsync(HttpClient http) =>
        JsonNode.Parse(await http.GetStringAsync(new Uri("/v1/stats", UriKind.Relative)))!;

    private static string[] RedisKeys(int port, string pattern)
    {
        using var cli = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("redis-cli", ["-p", port.ToString(CultureInfo.InvariantCulture), "--scan", "--pattern", pattern]) { RedirectStandardOutput = true })!;
        var keys = cli.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        cli.WaitForExit();
        return keys;
    }
}
