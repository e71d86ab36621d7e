using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Avg.Cluster.Hosting;
using Avg.Cluster.Testing;
using Avg.Data;
using Avg.Tests.Support;
using Xunit.Abstractions;

namespace Avg.Cluster.IntegrationTests;

/// <summary>
/// A model silo and a partitions-only silo (which holds every partition, the catalog and the directory) as processes;
/// the partitions silo is then stopped with SIGSTOP — its sockets open, nothing answered, as a hung machine. Searches
/// over HTTP answer within Avg__QueryTimeoutMs, from the catalog and partitions the model silo holds, flagged partial
/// and naming the partitions left out; a search or an ingest whose HTTP client goes away stops its work on the silo
/// (counted in avg_cancelled_total), and the aborted batch indexed nothing once the partitions silo runs again.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public sealed class UnresponsiveSiloTests(ITestOutputHelper output) : IDisposable
{
    private const int QueryTimeoutMs = 1500;

    private readonly TempDirectory _logs = new();
    private readonly List<ChildProcess> _processes = [];

    [Fact]
    public async Task Searches_answer_by_the_deadline_while_the_partitions_silo_hangs_and_aborted_requests_stop_their_work()
    {
        var bundle = TinyShapesBundle.Ensure();
        var dataset = TinyShapesBundle.Dataset();
        var ports = LoopbackPorts.Take(7);
        _processes.Add(await ChildProcess.StartRedisAsync(ports[0], _logs.Path));
        var clusterId = "hang-" + Guid.NewGuid().ToString("N")[..8];
        var model = StartSilo("silo-model", bundle, ports[0], clusterId, "model", ports[1], ports[2], ports[3]);
        var partitions = StartSilo("silo-partitions", bundle, ports[0], clusterId, "partitions", ports[4], ports[5], ports[6]);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ports[3]}"), Timeout = TimeSpan.FromSeconds(30) };
        using var partitionsHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ports[6]}"), Timeout = TimeSpan.FromSeconds(30) };
        await model.WaitReadyAsync(http, TimeSpan.FromSeconds(60));
        await partitions.WaitReadyAsync(partitionsHttp, TimeSpan.FromSeconds(60));

        var test = dataset.Images.Where(i => i.Split == Split.Test).ToArray();
        using (var indexed = await PostImagesAsync(http, dataset, test.Select(i => (i.Index.ToString(CultureInfo.InvariantCulture), i)), CancellationToken.None))
        {
            indexed.StatusCode.ShouldBe(HttpStatusCode.OK, await indexed.Content.ReadAsStringAsync());
        }

        // Warm: the model silo reads the catalog and the one partition a beam of 1 reaches.
        var captions = test.Select(i => i.Captions[0]).ToArray();
        var (warm, _) = await SearchAsync(http, captions[0], beam: 1);
        warm["partial"]!.GetValue<bool>().ShouldBeFalse();
        var held = warm["results"]!.AsArray().Select(r => (int)r!["vokens"]![0]!).Distinct().ToArray();
        held.ShouldNotBeEmpty();

        partitions.Pause();
        try
        {
            // The same search: answered from the held catalog and partition, flagged as read from an older catalog.
            var (again, tookAgain) = await SearchAsync(http, captions[0], beam: 1);
            output.WriteLine($"beam 1 with the partitions silo stopped: {tookAgain.TotalMilliseconds:F0} ms, partial {again["partial"]}, staleCatalog {again["staleCatalog"]}, missing [{string.Join(",", again["missingPartitions"]!.AsArray())}]");
            again["partial"]!.GetValue<bool>().ShouldBeTrue();
            again["staleCatalog"]!.GetValue<bool>().ShouldBeTrue();
            Ids(again).ShouldBe(Ids(warm));
            tookAgain.ShouldBeLessThan(TimeSpan.FromMilliseconds(QueryTimeoutMs + 2000));

            // A search reaching every partition: the ones not held are left out and named.
            var (wide, tookWide) = await SearchAsync(http, captions[1], beam: 16);
            var missing = wide["missingPartitions"]!.AsArray().Select(v => (int)v!).ToArray();
            output.WriteLine($"beam 16 with the partitions silo stopped: {tookWide.TotalMilliseconds:F0} ms, {wide["results"]!.AsArray().Count} results, missing [{string.Join(",", missing)}] (held [{string.Join(",", held)}])");
            wide["partial"]!.GetValue<bool>().ShouldBeTrue();
            missing.ShouldNotBeEmpty();
            missing.ShouldAllBe(m => !held.Contains(m));
            wide["results"]!.AsArray().ShouldAllBe(r => held.Contains((int)r!["vokens"]![0]!));
            tookWide.ShouldBeLessThan(TimeSpan.FromMilliseconds(QueryTimeoutMs + 2000));

            // A search whose client goes away after 300 ms: cancelled on the silo, never answered there.
            var metrics = await MetricsAsync(http);
            using (var abort = new CancellationTokenSource(300))
            {
                await Should.ThrowAsync<OperationCanceledException>(() => http.PostAsJsonAsync("/v1/search", new { query = captions[2], k = 10, beam = 16 }, abort.Token));
            }

            (await WaitForAsync(http, m => Sample(m, "avg_cancelled_total", "query") > Sample(metrics, "avg_cancelled_total", "query"))).ShouldBeTrue("the silo counted the search as cancelled");
            await Task.Delay(QueryTimeoutMs + 500);
            var after = await MetricsAsync(http);
            Sample(after, "avg_query_duration_seconds_count", null).ShouldBe(Sample(metrics, "avg_query_duration_seconds_count", null), "the cancelled search was not run to its deadline");

            // An ingest whose client goes away while its directory writes wait on the stopped silo.
            var aborted = test.Take(10).Select(i => ("aborted-" + i.Index.ToString(CultureInfo.InvariantCulture), i)).ToArray();
            using (var abort = new CancellationTokenSource(1000))
            {
                await Should.ThrowAsync<OperationCanceledException>(() => PostImagesAsync(http, dataset, aborted, abort.Token));
            }

            (await WaitForAsync(http, m => Sample(m, "avg_cancelled_total", "ingest") > Sample(metrics, "avg_cancelled_total", "ingest"))).ShouldBeTrue("the shards counted the batch as cancelled");
            partitions.Resume();

            // Running again: the aborted batch indexed nothing, the index is as before.
            var stats = await WaitForStatsAsync(http);
            ((int)stats["images"]!).ShouldBe(test.Length);
            foreach (var (id, _) in aborted)
            {
                using var read = await http.GetAsync(new Uri($"/v1/images/{id}", UriKind.Relative));
                read.StatusCode.ShouldBe(HttpStatusCode.NotFound, $"aborted image {id}");
            }

            var (complete, _) = await SearchAsync(http, captions[1], beam: 16);
            complete["partial"]!.GetValue<bool>().ShouldBeFalse("every partition answers again");
        }
        finally
        {
            partitions.Resume();
        }
    }

    public void Dispose()
    {
        foreach (var process in _processes.Where(p => p.Name.StartsWith("silo", StringComparison.Ordinal)))
        {
            output.WriteLine($"--- {process.Name} (last lines) ---\n{process.Tail(10)}");
        }

        foreach (var process in Enumerable.Reverse(_processes))
        {
            process.Dispose();
        }

        _logs.Dispose();
    }

    private static string[] Ids(JsonNode answer) => answer["results"]!.AsArray().Select(r => (string)r!["imageId"]!).ToArray();

    private static Task<HttpResponseMessage> PostImagesAsync(HttpClient http, KarpathyDataset dataset, IEnumerable<(string Id, DatasetImage Image)> images, CancellationToken cancellationToken) =>
        http.PostAsJsonAsync("/v1/images", new { images = images.Select(i => new { id = i.Id, imageBase64 = Convert.ToBase64String(File.ReadAllBytes(dataset.ImagePath(i.Image))) }) }, cancellationToken);

    private static async Task<(JsonNode Answer, TimeSpan Took)> SearchAsync(HttpClient http, string query, int beam)
    {
        var clock = Stopwatch.StartNew();
        using var response = await http.PostAsJsonAsync("/v1/search", new { query, k = 10, beam });
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
        return (JsonNode.Parse(text)!, clock.Elapsed);
    }

    private static async Task<string> MetricsAsync(HttpClient http) => await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));

    private static double Sample(string metrics, string name, string? kind) => PrometheusText.Sample(metrics, name, kind);

    private static async Task<bool> WaitForAsync(HttpClient http, Func<string, bool> condition)
    {
        for (var i = 0; i < 30; i++)
        {
            if (condition(await MetricsAsync(http)))
            {
                return true;
            }

            await Task.Delay(100);
        }

        return false;
    }

    private static async Task<JsonNode> WaitForStatsAsync(HttpClient http)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return JsonNode.Parse(await http.GetStringAsync(new Uri("/v1/stats", UriKind.Relative)))!;
            }
            catch (HttpRequestException) when (clock.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(200);
            }
        }
    }

    private ChildProcess StartSilo(string name, string bundle, int redisPort, string clusterId, string roles, int siloPort, int gatewayPort, int httpPort)
    {
        var env = SiloEnvironment.For(bundle, redisPort, clusterId, siloPort, gatewayPort, httpPort);
        env["Avg__Roles"] = roles;
        env["Avg__QueryTimeoutMs"] = QueryTimeoutMs.ToString(CultureInfo.InvariantCulture);
        // The stopped silo must not be declared dead during the test: its grains stay where they are, unreachable.
        env["Avg__FailureDetectionSeconds"] = "60";
        var silo = ChildProcess.Start(name, "dotnet", [Locations.SiloDll()], env, _logs.Path);
        _processes.Add(silo);
        return silo;
    }
}
