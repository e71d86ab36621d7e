using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Avg;
using Avg.Cluster.Hosting;
using Avg.Data;
using Avg.Models.Encoders;
using Avg.Models.Pipeline;
using Avg.Silo;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

// Usage: avg-cluster-bench --bundle DIR --data DIR [--rounds 5] [--queries 300] [--concurrency 4]
// Prints one JSON object: ingest images/s (features and raw-image routes) per shard and total, HTTP search p50/p99 and
// queries/s with 1 silo (embedded) and 3 silos (Redis; 2 model silos + 1 partitions-only), grain calls per query.
// `avg-cluster-bench chaos …`: faults on real processes, one JSON object per fault (ChaosBenchmark.cs).
if (args.Length > 0 && args[0] == "chaos")
{
    return await Avg.Cluster.Bench.ChaosBenchmark.RunAsync(args[1..]).ConfigureAwait(false);
}

try
{
    var arguments = Args.Parse(args);
    var report = await Bench.RunAsync(arguments).ConfigureAwait(false);
    Console.WriteLine(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    return 0;
}
catch (AvgException e)
{
    await Console.Error.WriteLineAsync($"avg-cluster-bench: {e.Message}").ConfigureAwait(false);
    return 2;
}

internal sealed record Args(string Bundle, string Data, int Rounds, int Queries, int Concurrency)
{
    public static Args Parse(string[] args)
    {
        var reader = new ArgReader(args);
        var (bundle, data) = (reader.Bundle(), reader.Data());
        return new Args(bundle, data, reader.Int("--rounds", 5), reader.Int("--queries", 300), reader.Int("--concurrency", 4));
    }
}

internal static class Bench
{
    public static async Task<JsonObject> RunAsync(Args args)
    {
        var dataset = KarpathyReader.Load(args.Data);
        var images = dataset.Images.ToArray();
        var captions = images.SelectMany(i => i.Captions).Take(args.Queries).ToArray();
        float[] features;
        int width;
        using (var model = AvgModel.Load(args.Bundle, "cpu"))
        {
            var size = model.Config.ImageSize;
            var pixels = ImageDecoder.DecodeAll(dataset, images, size);
            features = model.EncodeImages(ImageData.FromBytes(pixels, images.Length, size, size));
            width = model.Tokenizer.Options.InputDim;
        }

        var encoded = images.Select(i => Convert.ToBase64String(File.ReadAllBytes(dataset.ImagePath(i)))).ToArray();
        var workload = new Workload(images.Length, features, width, encoded, captions, args);
        var report = new JsonObject
        {
            ["bundle"] = Path.GetFullPath(args.Bundle),
            ["dataset_images"] = images.Length,
            ["machine"] = $"{Environment.ProcessorCount} cores, {Environment.OSVersion}",
        };
        report["one_silo"] = await OneSiloAsync(args, workload).ConfigureAwait(false);
        report["three_silos"] = await ThreeSilosAsync(args, workload).ConfigureAwait(false);
        return report;
    }

    private static async Task<JsonObject> OneSiloAsync(Args args, Workload workload)
    {
        var ports = LoopbackPorts.Take(3);
        var options = new AvgSiloOptions { Bundle = args.Bundle, SiloPort = ports[0], GatewayPort = ports[1], HttpPort = ports[2], Device = "cpu", Shards = 4 };
        await using var app = AvgSiloHost.Build(options, configure: Quiet);
        await app.StartAsync().ConfigureAwait(false);
        using var http = Client(options.HttpPort);
        await WaitReadyAsync(http).ConfigureAwait(false);
        var result = await workload.RunAsync([http]).ConfigureAwait(false);
        await app.StopAsync().ConfigureAwait(false);
        return result;
    }

    private static async Task<JsonObject> ThreeSilosAsync(Args args, Workload workload)
    {
        var ports = LoopbackPorts.Take(10);
        using var redis = Process.Start(new ProcessStartInfo("redis-server", ["--port", ports[0].ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        {
            RedirectStandardOutput = true, UseShellExecute = false,
        }) ?? throw new AvgException("redis-server did not start; install it (apt-get install -y redis-server)");
        try
        {
            await Task.Delay(500).ConfigureAwait(false);
            var apps = new List<WebApplication>();
            var clients = new List<HttpClient>();
            var roles = new[] { "model,partitions", "model,partitions", "partitions" };
            for (var s = 0; s < 3; s++)
            {
                var options = new AvgSiloOptions
                {
                    Bundle = args.Bundle, Redis = $"127.0.0.1:{ports[0]}", ClusterId = "bench-" + ports[0], AdvertisedIp = "127.0.0.1",
                    SiloPort = ports[1 + (3 * s)], GatewayPort = ports[2 + (3 * s)], HttpPort = ports[3 + (3 * s)], Roles = roles[s], Device = "cpu", Shards = 4,
                };
                var app = AvgSiloHost.Build(options, configure: Quiet);
                await app.StartAsync().ConfigureAwait(false);
                apps.Add(app);
                clients.Add(Client(options.HttpPort));
            }

            foreach (var client in clients)
            {
                await WaitReadyAsync(client).ConfigureAwait(false);
            }

            var result = await workload.RunAsync(clients).ConfigureAwait(false);
            foreach (var app in Enumerable.Reverse(apps))
            {
                await app.StopAsync().ConfigureAwait(false);
                await app.DisposeAsync().ConfigureAwait(false);
            }

            foreach (var client in clients)
            {
                client.Dispose();
            }

            return result;
        }
        finally
        {
            redis.Kill();
        }
    }

    private static void Quiet(WebApplicationBuilder builder) => builder.Logging.SetMinimumLevel(LogLevel.Warning);

    private static HttpClient Client(int port) => new() { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(2) };

    private static async Task WaitReadyAsync(HttpClient http)
    {
        for (var i = 0; i < 600; i++)
        {
            try
            {
                if ((await http.GetAsync(new Uri("/health/ready", UriKind.Relative)).ConfigureAwait(false)).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100).ConfigureAwait(false);
        }

        throw new AvgException("a silo did not become ready within 60 s");
    }
}

/// <summary>The same work for every cluster shape: ingest by features, ingest raw images, then search.</summary>
internal sealed class Workload(int imageCount, float[] features, int width, string[] encoded, string[] captions, Args args)
{
    private const int Batch = 100;

    public async Task<JsonObject> RunAsync(IReadOnlyList<HttpClient> silos)
    {
        var featureRoute = await IngestAsync(silos, "f", i => new { id = "", features = features.AsSpan(i * width, width).ToArray() }).ConfigureAwait(false);
        var shardsAfterFeatures = await ShardsAsync(silos[0]).ConfigureAwait(false);
        var imageRoute = await IngestAsync(silos, "r", i => new { id = "", imageBase64 = encoded[i] }).ConfigureAwait(false);
        var shardsAfterImages = await ShardsAsync(silos[0]).ConfigureAwait(false);

        // Warm-up (fills each model silo's partition cache), then sequential latency, then concurrent throughput.
        var cold = await SearchAsync(silos[0], captions[0]).ConfigureAwait(false);
        foreach (var silo in silos)
        {
            await SearchAsync(silo, captions[^1]).ConfigureAwait(false);
        }

        var latencies = new List<double>();
        var fanOut = new List<int>();
        for (var q = 0; q < captions.Length; q++)
        {
            var (ms, calls) = await SearchAsync(silos[q % silos.Count], captions[q]).ConfigureAwait(false);
            latencies.Add(ms);
            fanOut.Add(calls);
        }

        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, args.Concurrency).Select(async worker =>
        {
            int q;
            while ((q = Interlocked.Increment(ref next)) < captions.Length)
            {
                await SearchAsync(silos[(q + worker) % silos.Count], captions[q]).ConfigureAwait(false);
            }
        })).ConfigureAwait(false);
        var concurrentQps = captions.Length / clock.Elapsed.TotalSeconds;

        latencies.Sort();
        var stats = JsonNode.Parse(await silos[0].GetStringAsync(new Uri("/v1/stats", UriKind.Relative)).ConfigureAwait(false))!;
        return new JsonObject
        {
            ["silos"] = silos.Count,
            ["images_indexed"] = (int)stats["images"]!,
            ["partitions"] = (int)stats["partitions"]!,
            ["ingest_features"] = Ingest(featureRoute, shardsAfterFeatures, null),
            ["ingest_raw_images"] = Ingest(imageRoute, shardsAfterImages, shardsAfterFeatures),
            ["search"] = new JsonObject
            {
                ["queries"] = captions.Length,
                ["k"] = 10,
                ["beam"] = 20,
                ["sequential_p50_ms"] = Math.Round(Percentile(latencies, 0.50), 2),
                ["sequential_p99_ms"] = Math.Round(Percentile(latencies, 0.99), 2),
                ["sequential_qps"] = Math.Round(1000.0 * latencies.Count / latencies.Sum(), 1),
                ["concurrent_clients"] = args.Concurrency,
                ["concurrent_qps"] = Math.Round(concurrentQps, 1),
                ["fan_out_calls_cold_first_query"] = cold.Calls,
                ["fan_out_calls_per_query_warm_mean"] = Math.Round(fanOut.Average(), 3),
                ["fan_out_calls_per_query_warm_max"] = fanOut.Max(),
            },
        };
    }

    private static JsonObject Ingest((int Images, double Seconds) route, JsonArray shards, JsonArray? before)
    {
        var perShard = new JsonArray();
        foreach (var shard in shards)
        {
            var id = (int)shard!["shard"]!;
            var images = (long)shard["images"]! - (before?.FirstOrDefault(b => (int)b!["shard"]! == id) is { } b ? (long)b["images"]! : 0);
            perShard.Add(new JsonObject { ["shard"] = id, ["images"] = images, ["busy_images_per_second_since_start"] = Math.Round((double)shard["imagesPerSecond"]!, 1) });
        }

        return new JsonObject
        {
            ["images"] = route.Images,
            ["seconds"] = Math.Round(route.Seconds, 2),
            ["images_per_second_total"] = Math.Round(route.Images / route.Seconds, 1),
            ["shards"] = perShard,
        };
    }

    private async Task<(int Images, double Seconds)> IngestAsync(IReadOnlyList<HttpClient> silos, string prefix, Func<int, object> item)
    {
        var total = imageCount * args.Rounds;
        var batches = Enumerable.Range(0, total).Chunk(Batch).ToArray();
        var clock = Stopwatch.StartNew();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, silos.Count).Select(async s =>
        {
            int b;
            while ((b = Interlocked.Increment(ref next)) < batches.Length)
            {
                var body = new JsonObject
                {
                    ["images"] = new JsonArray(batches[b].Select(n =>
                    {
                        var node = JsonSerializer.SerializeToNode(item(n % imageCount))!.AsObject();
                        node["id"] = prefix + n.ToString(CultureInfo.InvariantCulture);
                        return (JsonNode)node;
                    }).ToArray()),
                };
                var response = await silos[s].PostAsJsonAsync("/v1/images", body).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    throw new AvgException($"ingest answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync().ConfigureAwait(false)}");
                }
            }
        })).ConfigureAwait(false);
        return (total, clock.Elapsed.TotalSeconds);
    }

    private static async Task<JsonArray> ShardsAsync(HttpClient http) =>
        JsonNode.Parse(await http.GetStringAsync(new Uri("/v1/stats", UriKind.Relative)).ConfigureAwait(false))!["shards"]!.AsArray();

    private static async Task<(double Ms, int Calls)> SearchAsync(HttpClient http, string query)
    {
        var clock = Stopwatch.StartNew();
        var response = await http.PostAsJsonAsync("/v1/search", new { query, k = 10, beam = 20 }).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new AvgException($"search answered {(int)response.StatusCode}: {text}");
        }

        var ms = clock.Elapsed.TotalMilliseconds;
        return (ms, (int)JsonNode.Parse(text)!["timing"]!["fanOutCalls"]!);
    }

    private static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}
