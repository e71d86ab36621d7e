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
/// An avg-silo process stopped with SIGTERM with Redis up; and one whose Redis goes away (kill -9): ingest is refused
/// at once with 503, <c>Retry-After</c> and a problem document, searches and reads go on from what the silo holds,
/// and SIGTERM ends it within its shutdown budget.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public sealed class ShutdownTests(ITestOutputHelper output) : IDisposable
{
    private const int ShutdownSeconds = 2;

    private readonly TempDirectory _logs = new();
    private readonly List<ChildProcess> _processes = [];

    [Fact]
    public async Task Sigterm_stops_the_silo_cleanly_and_without_redis_ingest_is_refused_queries_answer_and_sigterm_exits_at_once()
    {
        var bundle = TinyShapesBundle.Ensure();
        var dataset = TinyShapesBundle.Dataset();
        var ports = LoopbackPorts.Take(7);
        var redis = await ChildProcess.StartRedisAsync(ports[0], _logs.Path);
        _processes.Add(redis);

        // Redis up: SIGTERM leaves the cluster within the graceful timeout, exit code 0.
        var (first, _) = await StartSiloAsync("silo-clean", bundle, ports[0], ports[1], ports[2], ports[3]);
        var clock = Stopwatch.StartNew();
        first.Terminate();
        var code = await first.WaitForExitAsync(TimeSpan.FromSeconds(60));
        output.WriteLine($"clean stop: exit {code} after {clock.Elapsed.TotalSeconds:F1}s");
        code.ShouldBe(0, first.Tail());

        // A silo with an index, then Redis gone (kill -9: no goodbye to its clients).
        var (second, http) = await StartSiloAsync("silo-orphan", bundle, ports[0], ports[4], ports[5], ports[6]);
        var test = dataset.Images.Where(i => i.Split == Split.Test).ToArray();
        (await PostImagesAsync(http, dataset, test.Take(30))).StatusCode.ShouldBe(HttpStatusCode.OK);
        var captions = test.Take(30).Select(i => i.Captions[0]).ToArray();
        var before = new List<string[]>();
        foreach (var caption in captions)
        {
            before.Add(await SearchAsync(http, caption));
        }

        before.ShouldContain(r => r.Length > 0);
        redis.KillHard();
        await redis.WaitForExitAsync(TimeSpan.FromSeconds(10));

        // Ingest: 503 with Retry-After and a problem document naming the storage, at once (not a hang, not a 500).
        clock.Restart();
        using var refused = await PostImagesAsync(http, dataset, test.Skip(30).Take(10));
        var refusedAfter = clock.Elapsed;
        var body = await refused.Content.ReadAsStringAsync();
        output.WriteLine($"ingest without redis: {(int)refused.StatusCode} after {refusedAfter.TotalMilliseconds:F0} ms, Retry-After {refused.Headers.RetryAfter}: {body}");
        refused.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable, body);
        refused.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
        refused.Headers.RetryAfter?.Delta.ShouldNotBeNull("Retry-After in seconds");
        refused.Headers.RetryAfter!.Delta!.Value.ShouldBeGreaterThan(TimeSpan.Zero);
        var problem = JsonNode.Parse(body)!;
        ((int)problem["status"]!).ShouldBe(503);
        ((string)problem["detail"]!).ShouldContain("Redis");
        body.ShouldNotContain(" at ", Case.Sensitive, "no stack trace");
        refusedAfter.ShouldBeLessThan(TimeSpan.FromSeconds(10));

        // Searches and reads: answered from the partitions and directory the silo holds, results unchanged.
        for (var q = 0; q < captions.Length; q++)
        {
            (await SearchAsync(http, captions[q])).ShouldBe(before[q], $"query '{captions[q]}' without redis");
        }

        using (var read = await http.GetAsync(new Uri($"/v1/images/{test[0].Index}", UriKind.Relative)))
        {
            read.StatusCode.ShouldBe(HttpStatusCode.OK, "an image the silo holds is read without Redis");
        }

        // SIGTERM: the silo cannot record its leaving in Redis; it exits at once (within its shutdown budget), code 1.
        clock.Restart();
        second.Terminate();
        code = await second.WaitForExitAsync(TimeSpan.FromSeconds(ShutdownSeconds + AvgSiloOptions.ShutdownWatchdogMarginSeconds + 20));
        var stopped = clock.Elapsed;
        output.WriteLine($"stop without redis: exit {code} after {stopped.TotalSeconds:F1}s");
        code.ShouldBe(1, second.Tail());
        second.Tail().ShouldContain("Redis does not answer");
        stopped.ShouldBeLessThan(TimeSpan.FromSeconds(ShutdownSeconds + 1), second.Tail());
    }

    public void Dispose()
    {
        foreach (var process in _processes)
        {
            process.Dispose();
        }

        _logs.Dispose();
    }

    private static Task<HttpResponseMessage> PostImagesAsync(HttpClient http, KarpathyDataset dataset, IEnumerable<DatasetImage> images) =>
        http.PostAsJsonAsync("/v1/images", new
        {
            images = images.Select(i => new { id = i.Index.ToString(CultureInfo.InvariantCulture), imageBase64 = Convert.ToBase64String(File.ReadAllBytes(dataset.ImagePath(i))) }),
        });

    private static async Task<string[]> SearchAsync(HttpClient http, string query)
    {
        using var response = await http.PostAsJsonAsync("/v1/search", new { query, k = 10, beam = 8 });
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!["results"]!.AsArray().Select(r => (string)r!["imageId"]!).ToArray();
    }

    private async Task<(ChildProcess Silo, HttpClient Http)> StartSiloAsync(string name, string bundle, int redisPort, int siloPort, int gatewayPort, int httpPort)
    {
        var env = SiloEnvironment.For(bundle, redisPort, "shutdown-" + Guid.NewGuid().ToString("N")[..8], siloPort, gatewayPort, httpPort);
        env["Avg__ShutdownSeconds"] = ShutdownSeconds.ToString(CultureInfo.InvariantCulture);
        var silo = ChildProcess.Start(name, "dotnet", [Locations.SiloDll()], env, _logs.Path);
        _processes.Add(silo);
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(30) };
        await silo.WaitReadyAsync(http, TimeSpan.FromSeconds(60));
        return (silo, http);
    }
}
