using System.Globalization;
using System.Net.Http.Json;
using Avg.Cluster.Telemetry;
using Avg.Cluster.Tests.Support;
using Avg.Data;
using Avg.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Avg.Cluster.Tests;

/// <summary>
/// <c>GET /metrics</c> of a real silo host after real ingest and searches over HTTP: every metric of docs/metrics.md
/// with non-zero values and the documented labels and buckets, next to Orleans' own meter.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public class MetricsEndpointTests
{
    [Fact]
    public async Task After_ingest_and_searches_every_product_metric_is_exported_with_values()
    {
        var bundle = TinyShapesBundle.Ensure();
        var dataset = TinyShapesBundle.Dataset();
        await using var silo = await EmbeddedSilo.StartAsync(bundle, shards: 2);
        var test = dataset.Images.Where(i => i.Split == Split.Test).Take(24).ToArray();
        var ingest = await silo.Http.PostAsJsonAsync("/v1/images", new
        {
            images = test.Select(i => new { id = i.Index.ToString(CultureInfo.InvariantCulture), imageBase64 = Convert.ToBase64String(File.ReadAllBytes(dataset.ImagePath(i))) }),
        });
        ingest.EnsureSuccessStatusCode();
        foreach (var image in test.Take(3))
        {
            (await silo.Http.PostAsJsonAsync("/v1/search", new { query = image.Captions[0], k = 5 })).EnsureSuccessStatusCode();
        }

        var tensorsBefore = TorchSharp.torch.Tensor.TotalCount;
        var text = await silo.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        var tensorsAfter = TorchSharp.torch.Tensor.TotalCount;
        var samples = PrometheusText.Parse(text);

        Sum(samples, "avg_ingest_images_total").ShouldBe(24);
        samples.Where(s => s.Name == "avg_ingest_images_total").Select(s => s.Labels["shard"]).Order().ShouldBe(["0", "1"]);
        Sum(samples, "avg_shard_images_per_second").ShouldBeGreaterThan(0, "ingest finished seconds ago: still in the recent window");
        samples.Where(s => s.Name == "avg_partition_images").ShouldAllBe(s => s.Labels.ContainsKey("partition"));
        Sum(samples, "avg_partition_images").ShouldBe(24);
        Sum(samples, "avg_query_duration_seconds_count").ShouldBe(3);
        Sum(samples, "avg_query_duration_seconds_sum").ShouldBeGreaterThan(0);
        // /v1/stats reads its window from the same measurement: the same searches, none counted twice.
        var stats = System.Text.Json.Nodes.JsonNode.Parse(await silo.Http.GetStringAsync(new Uri("/v1/stats", UriKind.Relative)))!;
        ((long)stats["queries"]!["count"]!).ShouldBe(3);
        ((double)stats["queries"]!["p99Ms"]!).ShouldBeLessThanOrEqualTo(Sum(samples, "avg_query_duration_seconds_sum") * 1000, "one search's duration is at most the three's sum");
        samples.Where(s => s.Name == "avg_query_duration_seconds_bucket").Select(s => s.Labels["le"]).ShouldBe(
            AvgMetrics.QueryDurationBuckets.Select(b => b.ToString(CultureInfo.InvariantCulture)).Append("+Inf"));
        Sum(samples, "avg_beam_steps_total").ShouldBe(3 * TinyShapesBundle.Training.Levels, "one step per voken position per query");
        Sum(samples, "avg_fanout_calls_total").ShouldBeGreaterThan(0, "the first search fetched its partitions");
        Sum(samples, "avg_model_batch_size_count", ("kind", "query")).ShouldBe(3, "searches one after another: one batch each");
        Sum(samples, "avg_model_batch_size_sum", ("kind", "ingest")).ShouldBeGreaterThanOrEqualTo(1);
        samples.Where(s => s.Name == "avg_model_batch_size_bucket").Select(s => s.Labels["le"]).Distinct().ShouldBe(
            AvgMetrics.BatchSizeBuckets.Select(b => b.ToString(CultureInfo.InvariantCulture)).Append("+Inf"));
        // The query cache holds the partitions the searches reached, none of their rows replaced yet.
        Sum(samples, "avg_partition_cache_rows", ("state", "live")).ShouldBeInRange(1, 24);
        Sum(samples, "avg_partition_cache_rows", ("state", "unreachable")).ShouldBe(0);
        samples.ShouldContain(s => s.Name.StartsWith("orleans_", StringComparison.Ordinal), "Orleans' own meter is exported too");

        // Process memory and GC, what a soak watches.
        var rss = Sum(samples, "avg_process_resident_bytes");
        rss.ShouldBeGreaterThan(50e6, "a silo with LibTorch loaded is resident for more than 50 MB");
        Sum(samples, "avg_managed_heap_bytes").ShouldBeInRange(1e5, rss);
        Sum(samples, "avg_managed_committed_bytes").ShouldBeGreaterThanOrEqualTo(Sum(samples, "avg_managed_heap_bytes") * 0.5);
        Sum(samples, "avg_native_resident_bytes").ShouldBeInRange(1e6, rss, "LibTorch's code and tensors live outside the managed heap");
        Sum(samples, "avg_gc_pause_seconds_total").ShouldBeGreaterThanOrEqualTo(0);
        samples.Where(s => s.Name == "avg_gc_collections_total").Select(s => s.Labels["generation"]).ShouldBe(
            Enumerable.Range(0, GC.MaxGeneration + 1).Select(g => g.ToString(CultureInfo.InvariantCulture)), ignoreOrder: true);
        var tensors = samples.Single(s => s.Name == "avg_torch_live_tensors").Value;
        tensors.ShouldBeGreaterThan(0, "the loaded model's parameters are live tensors");
        // One process: the embedded silo shares this test's count. A background thread (a model host still winding down
        // from an earlier test) may create or free tensors while the scrape runs, so the count read around it bounds it.
        tensors.ShouldBeInRange(Math.Min(tensorsBefore, tensorsAfter), Math.Max(tensorsBefore, tensorsAfter), "the live count at the scrape");

        // A partition whose activation leaves the silo leaves the gauge (Telemetry/PartitionActivationMetrics), the others
        // stay; called again, it is back with its count.
        var partitions = samples.Where(s => s.Name == "avg_partition_images").ToDictionary(s => s.Labels["partition"], s => s.Value);
        var leaving = partitions.MaxBy(p => p.Value);
        var version = (await silo.App.Services.GetRequiredService<Avg.Cluster.Model.IModelHost>().Ready).IndexVersion;
        var grain = silo.App.Services.GetRequiredService<IGrainFactory>().GetGrain<IVokenTriePartitionGrain>(int.Parse(leaving.Key, CultureInfo.InvariantCulture), version);
        await grain.Cast<Orleans.Core.Internal.IGrainManagementExtension>().DeactivateOnIdle();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        Dictionary<string, double> after;
        do
        {
            await Task.Delay(100);
            after = PrometheusText.Parse(await silo.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative)))
                .Where(s => s.Name == "avg_partition_images").ToDictionary(s => s.Labels["partition"], s => s.Value);
        }
        while (after.ContainsKey(leaving.Key) && DateTime.UtcNow < deadline);
        after.ShouldBe(partitions.Where(p => p.Key != leaving.Key).ToDictionary(), ignoreOrder: true);
        (await grain.GetInfo()).Images.ShouldBe((int)leaving.Value);
        deadline = DateTime.UtcNow.AddSeconds(20);
        do
        {
            // The exporter may answer from its last scrape for a moment.
            await Task.Delay(100);
            after = PrometheusText.Parse(await silo.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative)))
                .Where(s => s.Name == "avg_partition_images").ToDictionary(s => s.Labels["partition"], s => s.Value);
        }
        while (!after.ContainsKey(leaving.Key) && DateTime.UtcNow < deadline);
        after.ShouldBe(partitions, ignoreOrder: true);
    }

    private static double Sum(IEnumerable<PrometheusText.Sample> samples, string name, params (string Key, string Value)[] labels) =>
        samples.Where(s => s.Name == name && labels.All(l => s.Labels.GetValueOrDefault(l.Key) == l.Value)).Sum(s => s.Value);
}

/// <summary>Just enough of the Prometheus text format to read the exporter's samples.</summary>
internal static class PrometheusText
{
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    public static IReadOnlyList<Sample> Parse(string text)
    {
        var samples = new List<Sample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var brace = line.IndexOf('{', StringComparison.Ordinal);
            var close = line.LastIndexOf('}');
            var name = brace < 0 ? line[..line.IndexOf(' ', StringComparison.Ordinal)] : line[..brace];
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            if (brace >= 0)
            {
                foreach (var pair in line[(brace + 1)..close].Split("\",", StringSplitOptions.RemoveEmptyEntries))
                {
                    var eq = pair.IndexOf('=', StringComparison.Ordinal);
                    labels[pair[..eq]] = pair[(eq + 1)..].Trim('"');
                }
            }

            var rest = line[((brace < 0 ? name.Length : close + 1))..].Trim().Split(' ');
            samples.Add(new Sample(name, labels, double.Parse(rest[0], CultureInfo.InvariantCulture)));
        }

        return samples;
    }
}
