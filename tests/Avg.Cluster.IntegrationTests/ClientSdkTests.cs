using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Avg.Client;
using Avg.Cluster.Hosting;
using Avg.Cluster.Testing;
using Avg.Data;
using Avg.Tests.Support;
using Xunit.Abstractions;

namespace Avg.Cluster.IntegrationTests;

/// <summary>
/// The client SDK against a real silo process (redis-server + one avg-silo on loopback ports): index, search, read,
/// stats and delete through <see cref="AvgSearchClient"/>, each checked against the same silo's raw HTTP answer, so
/// the SDK and the server agree on the contract (field names, types, scores).
/// </summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public sealed class ClientSdkTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _logs = new();
    private readonly List<ChildProcess> _processes = [];

    [Fact]
    public async Task The_sdk_indexes_searches_reads_and_deletes_on_a_real_silo_as_raw_http_does()
    {
        var bundle = TinyShapesBundle.Ensure();
        var dataset = TinyShapesBundle.Dataset();
        var ports = LoopbackPorts.Take(4);
        _processes.Add(await ChildProcess.StartRedisAsync(ports[0], _logs.Path));
        var env = SiloEnvironment.For(bundle, ports[0], "sdk-" + Guid.NewGuid().ToString("N")[..8], ports[1], ports[2], ports[3]);
        _processes.Add(ChildProcess.Start("silo", "dotnet", [Locations.SiloDll()], env, _logs.Path));
        var endpoint = new Uri($"http://127.0.0.1:{ports[3]}");
        using var http = new HttpClient { BaseAddress = endpoint, Timeout = TimeSpan.FromSeconds(30) };
        await _processes[1].WaitReadyAsync(http, TimeSpan.FromSeconds(60));
        var client = new AvgSearchClient(endpoint);
        await client.WaitUntilReadyAsync(TimeSpan.FromSeconds(10));

        // Index through the SDK: raw image files, one batch.
        var test = dataset.Images.Where(i => i.Split == Split.Test).Take(40).ToArray();
        var images = test.Select(i => ImageToIndex.FromImage(i.Index.ToString(CultureInfo.InvariantCulture), File.ReadAllBytes(dataset.ImagePath(i)), $"shapes://{i.Index}")).ToArray();
        var indexed = await client.IndexImagesAsync(images);
        indexed.Indexed.Select(i => i.Id).ShouldBe(images.Select(i => i.Id));
        indexed.Indexed.ShouldAllBe(i => i.Vokens.Count > 0 && i.Partition == i.Vokens[0]);

        // Search: the SDK's results are the raw answer's, id for id, with the same scores and vokens.
        foreach (var caption in test.Take(10).Select(i => i.Captions[0]))
        {
            var viaSdk = await client.SearchAsync(caption, k: 10, beam: 8);
            var raw = await http.PostAsJsonAsync("/v1/search", new { query = caption, k = 10, beam = 8 });
            var body = JsonNode.Parse(await raw.Content.ReadAsStringAsync())!;
            var rawResults = body["results"]!.AsArray();
            viaSdk.Results.Count.ShouldBe(rawResults.Count, caption);
            viaSdk.Results.Count.ShouldBeGreaterThan(0, caption);
            viaSdk.IndexVersion.ShouldBe((string?)body["indexVersion"]);
            for (var r = 0; r < rawResults.Count; r++)
            {
                viaSdk.Results[r].ImageId.ShouldBe((string)rawResults[r]!["imageId"]!, caption);
                viaSdk.Results[r].Score.ShouldBe((double)rawResults[r]!["score"]!, 1e-6, caption);
                viaSdk.Results[r].Vokens.ShouldBe(rawResults[r]!["vokens"]!.AsArray().Select(v => (int)v!).ToArray(), caption);
                viaSdk.Results[r].Uri.ShouldBe((string?)rawResults[r]!["uri"], caption);
            }

            viaSdk.Timing.ShouldNotBeNull();
            viaSdk.Timing!.TotalMs.ShouldBeGreaterThan(0);
            viaSdk.Timing.TotalMs.ShouldBeGreaterThanOrEqualTo(viaSdk.Timing.GeneratorMs + viaSdk.Timing.WaitMs, "the parts are inside the whole");
        }

        // Read one image, then the stats; delete it and it is gone from both.
        var first = indexed.Indexed[0];
        var read = await client.GetImageAsync(first.Id);
        read.ShouldNotBeNull();
        read!.Vokens.ShouldBe(first.Vokens);
        read.Uri.ShouldBe($"shapes://{test[0].Index}");
        var stats = await client.GetStatsAsync();
        stats.Images.ShouldBe(test.Length);
        stats.IndexVersion.ShouldBe(indexed.IndexVersion);
        var shards = stats.Shards.ShouldNotBeNull();
        shards.Sum(s => s.Images).ShouldBe(test.Length, "every shard's count, as the silo sends it");
        shards.ShouldAllBe(s => s.History != null && s.History.Count > 0, "the shard history reaches the SDK");
        stats.Silos.ShouldNotBeNull().ShouldHaveSingleItem().Status.ShouldBe("Active");

        (await client.DeleteImageAsync(first.Id)).ShouldBeTrue();
        (await client.GetImageAsync(first.Id)).ShouldBeNull();
        (await client.DeleteImageAsync(first.Id)).ShouldBeFalse("a second delete finds nothing");
        (await client.GetStatsAsync()).Images.ShouldBe(test.Length - 1);
        output.WriteLine($"indexed {indexed.Indexed.Count} images through the SDK on a real silo; search, read, stats and delete agree with raw HTTP");
    }

    public void Dispose()
    {
        foreach (var process in _processes.Where(p => p.Name == "silo"))
        {
            output.WriteLine($"--- {process.Name} (last lines) ---\n{process.Tail(15)}");
        }

        foreach (var process in Enumerable.Reverse(_processes))
        {
            process.Dispose();
        }

        _logs.Dispose();
    }
}
