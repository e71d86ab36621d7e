using System.Text.Json.Nodes;
using System.Xml.Linq;
using Avg.Bench;
using Avg.Evaluation;
using Avg.Tests.Support;

namespace Avg.Cli.Tests;

/// <summary>`avg-bench` on a fresh machine: the parts that run without a trained bundle.</summary>
[Trait(TestCategory.Name, TestCategory.Unit)]
public class BenchCommandTests
{
    /// <summary>The benchmarks' image ids are a bijection of rows that does not keep their order (ties within a leaf must not favour the query images).</summary>
    [Fact]
    public void Scrambled_ids_are_a_bijection_that_does_not_keep_row_order()
    {
        var ids = Enumerable.Range(0, 200_000).Select(ScrambledIds.IdOf).ToArray();
        ids.Distinct().Count().ShouldBe(ids.Length);
        ids.ShouldAllBe(id => id >= 0 && id < (1L << 31));
        Enumerable.Range(0, 200_000).ShouldAllBe(row => ScrambledIds.RowOf(ScrambledIds.IdOf(row)) == row);
        ScrambledIds.RowOf(ScrambledIds.IdOf(int.MaxValue)).ShouldBe(int.MaxValue);
        // The first 1,000 rows (where queries come from) are spread over the id range, not first in it.
        var tenth = ids.Order().ElementAt(20_000);
        ids.Take(1_000).Count(id => id < tenth).ShouldBeLessThan(300);
    }

    [Fact]
    public void Index_images_are_generated_into_a_cache_folder_that_does_not_exist_yet_then_reused()
    {
        using var dir = new TempDirectory();
        var cache = Path.Combine(dir.Path, "not", "yet", "there");
        var log = new StringWriter();

        var images = ShapesIndexImages.Ensure(cache, seed: 3, imageSize: 32, count: 12, log);

        images.Count.ShouldBe(12);
        images.GenerateSeconds.ShouldBeGreaterThan(0);
        Directory.EnumerateFiles(cache, "*.png", SearchOption.AllDirectories).Count().ShouldBe(12);
        images.Caption(0, 0).ShouldNotBeNullOrWhiteSpace();

        var again = ShapesIndexImages.Ensure(cache, seed: 3, imageSize: 32, count: 12, log);
        again.GenerateSeconds.ShouldBe(0);
        log.ToString().ShouldContain("reusing 12 Shapes images");
    }

    [Fact]
    public async Task A_missing_bundle_is_a_one_line_error_not_a_stack_trace()
    {
        using var dir = new TempDirectory();
        var output = new StringWriter();
        var error = new StringWriter();

        var code = await BenchApp.RunAsync(["query", "--bundle", dir.File("none"), "--cache", dir.File("cache")], output, error);

        code.ShouldBe(2);
        error.ToString().Trim().ShouldStartWith("error:");
        error.ToString().ShouldNotContain("   at ");

        var negative = new StringWriter();
        (await BenchApp.RunAsync(["query", "--bundle", dir.Path, "--prior-weight", "-0.5"], output, negative)).ShouldBe(2);
        negative.ToString().Trim().ShouldBe("error: --prior-weight must be a number ≥ 0, got -0.5");

        var zeroWidth = new StringWriter();
        (await BenchApp.RunAsync(["query", "--bundle", dir.Path, "--level-beams", "20,0,20,10"], output, zeroWidth)).ShouldBe(2);
        zeroWidth.ToString().Trim().ShouldBe("error: --level-beams: every width must be at least 1, got 20,0,20,10");
        var notANumber = new StringWriter();
        (await BenchApp.RunAsync(["query", "--bundle", dir.Path, "--level-beams", "20,wide"], output, notANumber)).ShouldBe(2);
        notANumber.ToString().Trim().ShouldStartWith("error: --level-beams: 'wide' is not a width");
    }

    [Fact]
    public void Hnsw_loads_its_native_library_and_finds_what_exact_search_finds_on_a_small_set()
    {
        const int count = 300, dimension = 16;
        var random = new Random(5);
        var vectors = Enumerable.Range(0, count * dimension).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        using var hnsw = new HnswImageIndex(dimension, new HnswOptions());
        hnsw.Add(vectors.AsSpan(0, 100 * dimension));
        hnsw.Add(vectors.AsSpan(100 * dimension)); // grown from one size to the next, as the benchmark does
        var exact = new ExactDotProductSearch(vectors, dimension);

        hnsw.Count.ShouldBe(count);
        var overlap = 0;
        for (var q = 0; q < 20; q++)
        {
            var query = vectors.AsSpan(q * dimension, dimension).ToArray();
            var found = hnsw.Search(query.ToArray(), 10);
            found[0].ImageId.ShouldBe(q);
            found[0].Score.ShouldBe(1f, 1e-4f);
            overlap += found.Select(h => h.ImageId).Intersect(exact.Search(query, 10).Select(h => h.ImageId)).Count();
        }
        overlap.ShouldBeGreaterThanOrEqualTo(190); // ef 64 over 300 images is all but exhaustive
        hnsw.SerializedBytes().ShouldBeGreaterThan((long)count * dimension * sizeof(float));
        HnswImageIndex.Library.ShouldStartWith("Cloud.Unum.USearch 2.");
    }

    [Fact]
    public void The_chart_draws_queries_per_second_and_recall_per_method_on_log_axes()
    {
        static JsonObject Method(double qps, double? recall) => new() { ["qps"] = qps, ["r_at_10"] = recall };
        var report = new JsonObject
        {
            ["bundle"] = "/x/b-ref8", ["beam"] = 20, ["k"] = 10, ["queries"] = 300, ["threads"] = 1,
            ["sizes"] = new JsonArray(
                new JsonObject { ["images"] = 10_000, ["avg"] = Method(300, 0.3), ["two_tower"] = Method(900, 0.4), ["hnsw"] = Method(2_000, 0.4) },
                new JsonObject { ["images"] = 1_000_000, ["avg"] = Method(290, 0.05), ["two_tower"] = Method(12, 0.08), ["hnsw"] = Method(1_500, 0.07) }),
        };

        var svg = XDocument.Parse(QueryChart.Svg(report));

        XNamespace ns = "http://www.w3.org/2000/svg";
        svg.Descendants(ns + "polyline").Count().ShouldBe(6); // three methods × two panels
        var labels = svg.Descendants(ns + "text").Select(t => t.Value).ToArray();
        labels.ShouldContain("avg");
        labels.ShouldContain("two_tower");
        labels.ShouldContain("hnsw");
        labels.ShouldContain("10K");
        labels.ShouldContain("1M");
        labels.ShouldContain("1K"); // queries/s decades 10 … 10K
        labels.ShouldContain(l => l.StartsWith("R@10", StringComparison.Ordinal));

        // A report read back from an older run (no hnsw) at one size still draws.
        var old = JsonNode.Parse("""{"k":5,"sizes":[{"images":1000,"avg":{"qps":250.5,"r5":0.6},"two_tower":{"qps":1700,"r5":0.7}}]}""")!.AsObject();
        XDocument.Parse(QueryChart.Svg(old)).Descendants(ns + "polyline").Count().ShouldBe(4);
    }

    [Fact]
    public async Task Bad_hnsw_parameters_are_one_line_errors()
    {
        using var dir = new TempDirectory();
        var error = new StringWriter();
        (await BenchApp.RunAsync(["query", "--bundle", dir.Path, "--hnsw-connectivity", "1"], new StringWriter(), error)).ShouldBe(2);
        error.ToString().Trim().ShouldBe("error: --hnsw-connectivity must be at least 2, got 1");
    }
}
