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
/// A partitions-only silo needs no LibTorch: it runs from a copy of the silo's output with TorchSharp and every
/// LibTorch native library removed, holds every partition, directory bucket and the catalog of a cluster whose other
/// silo has the model role only, and the cluster indexes and searches as usual. Its process never maps a Torch library.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public sealed class PartitionsWithoutTorchTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _work = new();
    private readonly List<ChildProcess> _processes = [];

    [Fact]
    public async Task A_partitions_only_silo_serves_the_index_with_no_torch_library_present()
    {
        var bundle = TinyShapesBundle.Ensure();
        var dataset = TinyShapesBundle.Dataset();
        var stripped = StrippedSiloCopy(Path.GetDirectoryName(Locations.SiloDll())!, Path.Combine(_work.Path, "silo"));
        Directory.EnumerateFiles(stripped, "*", SearchOption.AllDirectories).ShouldNotContain(f => IsTorch(Path.GetFileName(f)));

        var ports = LoopbackPorts.Take(7);
        _processes.Add(await ChildProcess.StartRedisAsync(ports[0], _work.Path));
        var clusterId = "nt-" + Guid.NewGuid().ToString("N")[..8];
        var partitionsEnv = SiloEnvironment.For(bundle, ports[0], clusterId, ports[1], ports[2], ports[3]);
        partitionsEnv.Remove("Avg__Bundle");
        partitionsEnv["Avg__Roles"] = AvgSiloOptions.PartitionsRole;
        var partitionsSilo = ChildProcess.Start("partitions", "dotnet", [Path.Combine(stripped, "avg-silo.dll")], partitionsEnv, _work.Path);
        _processes.Add(partitionsSilo);
        var modelEnv = SiloEnvironment.For(bundle, ports[0], clusterId, ports[4], ports[5], ports[6]);
        modelEnv["Avg__Roles"] = AvgSiloOptions.ModelRole;
        var modelSilo = ChildProcess.Start("model", "dotnet", [Locations.SiloDll()], modelEnv, _work.Path);
        _processes.Add(modelSilo);
        using var partitionsHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ports[3]}"), Timeout = TimeSpan.FromSeconds(30) };
        using var modelHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ports[6]}"), Timeout = TimeSpan.FromSeconds(30) };
        await partitionsSilo.WaitReadyAsync(partitionsHttp, TimeSpan.FromSeconds(60));
        await modelSilo.WaitReadyAsync(modelHttp, TimeSpan.FromSeconds(60));

        // Index through the model silo (its shards tokenize; every partition lands on the stripped silo).
        var test = dataset.Images.Where(i => i.Split == Split.Test).Take(60).ToArray();
        var response = await modelHttp.PostAsJsonAsync("/v1/images", new
        {
            images = test.Select(i => new { id = i.Index.ToString(CultureInfo.InvariantCulture), imageBase64 = Convert.ToBase64String(File.ReadAllBytes(dataset.ImagePath(i))) }),
        });
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, text);

        // Search through either silo's HTTP API (the stripped one forwards to the model silo's query grains).
        foreach (var http in new[] { modelHttp, partitionsHttp })
        {
            var search = await http.PostAsJsonAsync("/v1/search", new { query = test[0].Captions[0], k = 10, beam = 8 });
            var body = await search.Content.ReadAsStringAsync();
            search.StatusCode.ShouldBe(HttpStatusCode.OK, body);
            JsonNode.Parse(body)!["results"]!.AsArray().Count.ShouldBe(10);
        }

        var stats = JsonNode.Parse(await partitionsHttp.GetStringAsync(new Uri("/v1/stats", UriKind.Relative)))!;
        ((int)stats["images"]!).ShouldBe(test.Length);
        var image = await partitionsHttp.GetAsync(new Uri($"/v1/images/{test[^1].Index}", UriKind.Relative));
        image.StatusCode.ShouldBe(HttpStatusCode.OK);

        var mapped = File.ReadAllLines($"/proc/{partitionsSilo.Id}/maps").Where(l => IsTorch(Path.GetFileName(l.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? ""))).ToArray();
        mapped.ShouldBeEmpty("the partitions-only silo loaded a Torch library");
        File.ReadAllText(partitionsSilo.LogPath).ShouldNotContain("TorchSharp", Case.Sensitive, "no attempt to load it either");
        File.ReadAllLines($"/proc/{modelSilo.Id}/maps").ShouldContain(l => l.Contains("libtorch_cpu", StringComparison.Ordinal), "the model silo does run Torch");
        output.WriteLine($"{test.Length} images indexed and searched; the partitions-only silo ran from {stripped} with no Torch library");
    }

    public void Dispose()
    {
        foreach (var process in _processes.Where(p => p.Name != "redis"))
        {
            output.WriteLine($"--- {process.Name} (last lines) ---\n{process.Tail(15)}");
        }

        foreach (var process in Enumerable.Reverse(_processes))
        {
            process.Dispose();
        }

        _work.Dispose();
    }

    private static bool IsTorch(string fileName) =>
        fileName.StartsWith("libtorch", StringComparison.Ordinal) || fileName.StartsWith("libLibTorchSharp", StringComparison.Ordinal)
        || fileName.StartsWith("libc10", StringComparison.Ordinal) || fileName.StartsWith("TorchSharp", StringComparison.Ordinal);

    /// <summary>The silo's output as symbolic links (it is 1.5 GB, mostly LibTorch) but for the app itself, less every Torch file.</summary>
    private static string StrippedSiloCopy(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            if (IsTorch(Path.GetFileName(file)))
            {
                continue;
            }

            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            if (Path.GetFileName(file).StartsWith("avg-silo.", StringComparison.Ordinal))
            {
                // The host resolves the app's own path through links: a real copy keeps the app base in this folder.
                File.Copy(file, target);
            }
            else
            {
                File.CreateSymbolicLink(target, file);
            }
        }

        return to;
    }
}
