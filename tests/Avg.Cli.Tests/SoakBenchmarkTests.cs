using System.Text.Json.Nodes;
using Avg.Bench;
using Avg.Tests.Support;

namespace Avg.Cli.Tests;

/// <summary>`avg-bench soak`: a short run against a real silo process and redis-server, and the verdicts it draws.</summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public class SoakBenchmarkTests
{
    [Fact]
    public async Task A_short_soak_holds_the_index_at_its_size_and_samples_memory_gc_tensors_and_latency()
    {
        var bundle = TinyShapesBundle.Ensure();
        using var dir = new TempDirectory();
        var options = new SoakBenchmarkOptions
        {
            Bundle = bundle, Minutes = 0.5, WarmupMinutes = 0.1, SampleSeconds = 3, Preload = 200, IngestRate = 40, IngestBatch = 20,
            DeleteRate = 40, SearchRate = 10, SearchClients = 2, Cache = dir.File("cache"), ChartPath = dir.File("soak.svg"), FullGcMinutes = 0.1,
        };
        var log = new StringWriter();

        var report = await new SoakBenchmark(options, log).RunAsync();

        report["failed_requests"]!.GetValue<long>().ShouldBe(0, log.ToString());
        report["silo_log_errors"]!.GetValue<int>().ShouldBe(0, report["silo_log_error_sample"]!.ToJsonString());
        // Every acknowledged image is there and every acknowledged delete is gone. Deletes never take the index below
        // Preload; on a loaded machine they may lag the ingest by a few seconds' worth (one DELETE at a time).
        report["index_consistent"]!.GetValue<bool>().ShouldBeTrue(report.ToJsonString());
        report["index_images"]!.GetValue<long>().ShouldBeInRange(200, 200 + (40 * 5));
        var achieved = report["achieved_rates"]!;
        achieved["ingest_images_per_second"]!.GetValue<double>().ShouldBeInRange(40 * 0.7, 40 * 1.2);
        achieved["deletes_per_second"]!.GetValue<double>().ShouldBeInRange(40 * 0.4, 40 * 1.2);
        achieved["searches_per_second"]!.GetValue<double>().ShouldBeInRange(10 * 0.7, 10 * 1.2);

        var samples = report["samples"]!.AsArray().Select(s => s!.AsObject()).ToArray();
        samples.Length.ShouldBeInRange(9, 11);
        foreach (var sample in samples)
        {
            sample["rss_mb"]!.GetValue<double>().ShouldBeGreaterThan(50, "a silo with LibTorch loaded");
            sample["native_mb"]!.GetValue<double>().ShouldBeInRange(1, sample["rss_mb"]!.GetValue<double>());
            sample["managed_heap_mb"]!.GetValue<double>().ShouldBeGreaterThan(0);
            sample["live_tensors"]!.GetValue<double>().ShouldBeGreaterThan(0, "the model's parameters");
            sample["gc_gen0"]!.GetValue<double>().ShouldBeGreaterThanOrEqualTo(sample["gc_gen2"]!.GetValue<double>());
            sample["searches"]!.GetValue<int>().ShouldBeGreaterThan(0);
        }

        samples.Select(s => s["indexed"]!.GetValue<long>()).ShouldBeInOrder(SortDirection.Ascending);
        samples.Select(s => s["gc_pause_s"]!.GetValue<double>()).ShouldBeInOrder(SortDirection.Ascending);
        // Full collections asked of the silo every 6 s after warm-up: each answered with the managed set it kept alive.
        var induced = samples.Where(s => s["induced_full_gc_live_mb"] is not null).Select(s => s["induced_full_gc_live_mb"]!.GetValue<double>()).ToArray();
        induced.Length.ShouldBeGreaterThanOrEqualTo(3, log.ToString());
        induced.ShouldAllBe(mb => mb > 1 && mb < 2000);
        samples.ShouldAllBe(s => s["cache_live_rows"]!.GetValue<double>() >= 0);
        var summary = report["summary"]!;
        summary["memory"]!["managed_live_after_induced_full_gc_mb"]!["judged"]!.GetValue<bool>().ShouldBeTrue();
        summary["memory"]!["managed_heap_mb"]!["judged"]!.GetValue<bool>().ShouldBeFalse("the live set judges the managed heap");
        summary["memory"]!["rss_mb"]!["start"]!.GetValue<double>().ShouldBeGreaterThan(50);
        summary["search_after_warmup"]!["p99_ms"]!.GetValue<double>().ShouldBeGreaterThanOrEqualTo(summary["search_after_warmup"]!["p50_ms"]!.GetValue<double>());
        var svg = await File.ReadAllTextAsync(options.ChartPath!);
        svg.ShouldStartWith("<svg");
        svg.Split("<polyline").Length.ShouldBe(1 + 7, "four memory lines, live tensors, p99 and p50");
    }

    [Fact]
    public void The_verdict_is_flat_for_a_level_series_and_not_for_one_that_grows_after_warm_up()
    {
        var options = new SoakBenchmarkOptions { Bundle = "", Minutes = 10, WarmupMinutes = 2, SampleSeconds = 10 };
        JsonArray Samples(Func<double, double> rss) => new(Enumerable.Range(1, 60).Select(i => (JsonNode)Sample(i * 10.0, rss(i * 10.0))).ToArray());
        (double, double, bool)[] searches = [.. Enumerable.Range(0, 600).Select(i => (i * 1.0, 5.0 + (i % 10), i % 2 == 0))];

        var level = SoakBenchmark.Summary(Samples(t => 400 + (t < 120 ? t : 0) + (t % 20 == 0 ? 3 : -3)), searches, options, 600);
        level["memory_flat"]!.GetValue<bool>().ShouldBeTrue(level.ToJsonString());
        level["memory"]!["rss_mb"]!["end_over_start"]!.GetValue<double>().ShouldBe(1, 0.02);
        level["search_start"]!["r_at_10"]!.GetValue<double>().ShouldBe(0.5);

        // 400 MB growing by 10 MB a minute: +20 % over the eight minutes after warm-up.
        var growing = SoakBenchmark.Summary(Samples(t => 400 + (t / 6)), searches, options, 600);
        growing["memory_flat"]!.GetValue<bool>().ShouldBeFalse();
        growing["memory"]!["rss_mb"]!["flat"]!.GetValue<bool>().ShouldBeFalse();
        growing["memory"]!["rss_mb"]!["slope_per_minute"]!.GetValue<double>().ShouldBe(10, 0.01);
        growing["memory"]!["native_mb"]!["flat"]!.GetValue<bool>().ShouldBeTrue();

        // A heap whose samples grow (garbage awaiting a full collection) is flat when what full collections keep does not
        // grow, and not when that grows too.
        JsonArray WithLive(Func<double, double> heap, Func<double, double> live) => new(Enumerable.Range(1, 60).Select(i =>
        {
            var sample = Sample(i * 10.0, 400);
            sample["managed_heap_mb"] = heap(i * 10.0);
            sample["induced_full_gc_live_mb"] = i % 12 == 0 ? live(i * 10.0) : null;
            return (JsonNode)sample;
        }).ToArray());
        var garbage = SoakBenchmark.Summary(WithLive(t => 100 + (t / 12), _ => 90), searches, options, 600);
        garbage["memory"]!["managed_heap_mb"]!["flat"]!.GetValue<bool>().ShouldBeFalse();
        garbage["memory"]!["managed_live_after_induced_full_gc_mb"]!["end_over_start"]!.GetValue<double>().ShouldBe(1);
        garbage["memory_flat"]!.GetValue<bool>().ShouldBeTrue(garbage.ToJsonString());
        var leak = SoakBenchmark.Summary(WithLive(t => 100 + (t / 12), t => 90 + (t / 12)), searches, options, 600);
        leak["memory"]!["managed_live_after_induced_full_gc_mb"]!["flat"]!.GetValue<bool>().ShouldBeFalse();
        leak["memory_flat"]!.GetValue<bool>().ShouldBeFalse();
    }

    private static JsonObject Sample(double seconds, double rss) => new()
    {
        ["t_s"] = seconds, ["rss_mb"] = rss, ["native_mb"] = 250.0, ["managed_heap_mb"] = 100.0, ["managed_committed_mb"] = 150.0, ["live_tensors"] = 172.0,
        ["gc_pause_s"] = seconds / 1000, ["gc_gen0"] = seconds, ["gc_gen1"] = seconds / 10, ["gc_gen2"] = seconds / 100,
    };
}
