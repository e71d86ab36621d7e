using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Avg.Cluster.Tests.Support;
using Avg.Data;
using Avg.Tests.Support;

namespace Avg.Cluster.Tests;

/// <summary>A real silo host (embedded) on a free loopback port with API keys; one fixture for the class.</summary>
public sealed class ApiSiloFixture : IAsyncLifetime
{
    public const string Key = "test-key-1";

    public EmbeddedSilo Silo { get; private set; } = null!;

    public KarpathyDataset Dataset { get; private set; } = null!;

    public HttpClient Http => Silo.Http;

    public async Task InitializeAsync()
    {
        var bundle = TinyShapesBundle.Ensure();
        Dataset = TinyShapesBundle.Dataset();
        Silo = await EmbeddedSilo.StartAsync(bundle, apiKeys: $"{Key}, test-key-2");
        Silo.Http.DefaultRequestHeaders.Add("X-Api-Key", Key);
    }

    public async Task DisposeAsync() => await Silo.DisposeAsync();
}

[Trait(TestCategory.Name, TestCategory.Integration)]
public class HttpApiTests(ApiSiloFixture fixture) : IClassFixture<ApiSiloFixture>
{
    private const int FeatureWidth = 32; // TinyShapesBundle.Training.EmbeddingDim

    private HttpClient Http => fixture.Http;

    [Fact]
    public async Task Requests_without_a_valid_api_key_get_401_and_health_stays_open()
    {
        using var bare = new HttpClient { BaseAddress = Http.BaseAddress };
        await ShouldBeProblem(await bare.PostAsJsonAsync("/v1/search", new { query = "red" }), HttpStatusCode.Unauthorized);
        bare.DefaultRequestHeaders.Add("X-Api-Key", "wrong");
        await ShouldBeProblem(await bare.GetAsync(new Uri("/v1/stats", UriKind.Relative)), HttpStatusCode.Unauthorized);
        (await bare.GetAsync(new Uri("/health/live", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await bare.GetAsync(new Uri("/health/ready", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK);
        var openApi = await bare.GetStringAsync(new Uri("/openapi/v1.json", UriKind.Relative));
        JsonNode.Parse(openApi)!["paths"]!.AsObject().Select(p => p.Key).ShouldContain("/v1/search");
        (await bare.GetStringAsync(new Uri("/metrics", UriKind.Relative))).ShouldNotBeNull();

        using var second = new HttpClient { BaseAddress = Http.BaseAddress };
        second.DefaultRequestHeaders.Add("X-Api-Key", "test-key-2");
        (await second.GetAsync(new Uri("/v1/stats", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("{\"query\":\"\"}", "query")]
    [InlineData("{\"query\":\"   \"}", "query")]
    [InlineData("{}", "query")]
    [InlineData("{\"query\":\"red\",\"k\":0}", "k")]
    [InlineData("{\"query\":\"red\",\"k\":101}", "k")]
    [InlineData("{\"query\":\"red\",\"beam\":0}", "beam")]
    [InlineData("{\"query\":\"red\",\"beam\":101}", "beam")]
    [InlineData("{\"query\":\"red\",\"levelBeams\":[8,0,8]}", "levelBeams")]
    [InlineData("{\"query\":\"red\",\"levelBeams\":[8,101,8]}", "levelBeams")]
    [InlineData("{\"query\":\"red\",\"levelBeams\":[]}", "levelBeams")]
    [InlineData("{\"query\":\"red\",\"levelBeams\":[8,8,8,8]}", "levelBeams")] // the tiny bundle's sequences have 3 vokens
    [InlineData("{\"query\":", "body")]
    [InlineData("{\"query\":\"red\",\"k\":\"many\"}", "body")]
    public async Task Invalid_searches_are_validation_problems(string json, string field)
    {
        var problem = await ShouldBeProblem(await PostJson("/v1/search", json), HttpStatusCode.BadRequest);
        problem["errors"]!.AsObject().Select(e => e.Key).ShouldContain(field, problem.ToJsonString());
    }

    [Fact]
    public async Task Oversized_query_is_a_validation_problem()
    {
        var problem = await ShouldBeProblem(await Http.PostAsJsonAsync("/v1/search", new { query = new string('a', 1001) }), HttpStatusCode.BadRequest);
        ((string)problem["errors"]!["query"]![0]!).ShouldContain("1001");
        (await Http.PostAsJsonAsync("/v1/search", new { query = " " + new string('a', 1000) + " " })).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Unknown_index_version_is_409()
    {
        await ShouldBeProblem(await Http.PostAsJsonAsync("/v1/search", new { query = "red", indexVersion = "not-this-one" }), HttpStatusCode.Conflict);
        await ShouldBeProblem(await Http.PostAsJsonAsync("/v1/images", new { images = new[] { Features("v1") }, indexVersion = "nope" }), HttpStatusCode.Conflict);
        var stats = JsonNode.Parse(await Http.GetStringAsync(new Uri("/v1/stats", UriKind.Relative)))!;
        var served = (string)stats["indexVersion"]!;
        (await Http.PostAsJsonAsync("/v1/search", new { query = "red", indexVersion = served })).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Invalid_ingest_batches_are_validation_problems_and_index_nothing()
    {
        var png = Convert.ToBase64String(File.ReadAllBytes(fixture.Dataset.ImagePath(fixture.Dataset.Images[0])));
        var cases = new (object Body, string Field)[]
        {
            (new { images = Array.Empty<object>() }, "images"),
            (new { }, "images"),
            (new { images = new[] { new { id = "bad", imageBase64 = "%%%not base64%%%" } } }, "images[0].imageBase64"),
            (new { images = new[] { new { id = "junk", imageBase64 = Convert.ToBase64String(Encoding.UTF8.GetBytes("this is not an image at all")) } } }, "images[0].imageBase64"),
            (new { images = new[] { new { id = "narrow", features = new float[FeatureWidth - 1] } } }, "images[0].features"),
            (new { images = new object[] { new { id = "both", imageBase64 = png, features = new float[FeatureWidth] } } }, "images[0]"),
            (new { images = new object[] { new { id = "neither" } } }, "images[0]"),
            (new { images = new object[] { Features("dup"), Features("ok"), Features("dup") } }, "images[2].id"),
            (new { images = new object[] { Features("a/b") } }, "images[0].id"),
            (new { images = new object[] { Features("") } }, "images[0].id"),
            (new { images = new object[] { Features(new string('x', 257)) } }, "images[0].id"),
            (new { images = Enumerable.Range(0, 1001).Select(i => Features("many" + i)).ToArray() }, "images"),
        };
        foreach (var (body, field) in cases)
        {
            var problem = await ShouldBeProblem(await Http.PostAsJsonAsync("/v1/images", body), HttpStatusCode.BadRequest);
            problem["errors"]!.AsObject().Select(e => e.Key).ShouldContain(field, problem.ToJsonString());
        }

        var features = string.Join(',', Enumerable.Repeat("0.1", FeatureWidth - 1));
        foreach (var literal in new[] { "\"NaN\"", "\"Infinity\"", "\"-Infinity\"" })
        {
            var json = $"{{\"images\":[{{\"id\":\"nan\",\"features\":[{features},{literal}]}}]}}";
            var problem = await ShouldBeProblem(await PostJson("/v1/images", json), HttpStatusCode.BadRequest);
            ((string)problem["errors"]!["images[0].features"]![0]!).ShouldContain("finite");
        }

        (await Http.GetAsync(new Uri("/v1/images/ok", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.NotFound, "a rejected batch indexes nothing");
    }

    [Fact]
    public async Task A_batch_split_over_the_shards_with_one_truncated_image_in_the_last_part_indexes_nothing()
    {
        // Two images per shard: the shards decode their parts, and the bad file is in the last part, so the other
        // shards accept theirs; the batch is refused whole all the same.
        var shards = fixture.Silo.Options.Shards;
        shards.ShouldBeGreaterThan(1);
        var file = File.ReadAllBytes(fixture.Dataset.ImagePath(fixture.Dataset.Images[2]));
        var count = 2 * shards;
        var images = Enumerable.Range(0, count).Select(i => new
        {
            id = "whole-" + i.ToString(CultureInfo.InvariantCulture),
            imageBase64 = Convert.ToBase64String(i < count - 1 ? file : file[..(file.Length / 2)]),
        }).ToArray();

        var problem = await ShouldBeProblem(await Http.PostAsJsonAsync("/v1/images", new { images }), HttpStatusCode.BadRequest);

        problem["errors"]!.AsObject().Select(e => e.Key).ShouldBe([$"images[{count - 1}].imageBase64"], problem.ToJsonString());
        ((string)problem["errors"]![$"images[{count - 1}].imageBase64"]![0]!).ShouldContain("ends early");
        ((string)problem["title"]!).ShouldContain("nothing was indexed");
        foreach (var image in images)
        {
            (await Http.GetAsync(new Uri("/v1/images/" + image.id, UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.NotFound, image.id);
        }

        var accepted = await Http.PostAsJsonAsync("/v1/images", new { images = images[..^1] });
        accepted.StatusCode.ShouldBe(HttpStatusCode.OK, await accepted.Content.ReadAsStringAsync());
        (await Http.GetAsync(new Uri("/v1/images/whole-0", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Images_are_added_replaced_read_and_deleted_by_id()
    {
        var png = Convert.ToBase64String(File.ReadAllBytes(fixture.Dataset.ImagePath(fixture.Dataset.Images[1])));
        var added = await Http.PostAsJsonAsync("/v1/images", new
        {
            images = new object[] { new { id = "life-1", imageBase64 = png, uri = "file:///one.png" }, Features("life-2", 0.3f) },
        });
        added.StatusCode.ShouldBe(HttpStatusCode.OK, await added.Content.ReadAsStringAsync());
        var body = JsonNode.Parse(await added.Content.ReadAsStringAsync())!;
        var indexed = body["indexed"]!.AsArray();
        indexed.Count.ShouldBe(2);
        ((double)body["elapsedMs"]!).ShouldBeGreaterThan(0);
        var vokens = indexed[0]!["vokens"]!.AsArray().Select(v => (int)v!).ToArray();
        vokens.Length.ShouldBe(TinyShapesBundle.Training.Levels);
        ((int)indexed[0]!["partition"]!).ShouldBe(vokens[0]);

        var got = JsonNode.Parse(await Http.GetStringAsync(new Uri("/v1/images/life-1", UriKind.Relative)))!;
        ((string)got["id"]!).ShouldBe("life-1");
        got["vokens"]!.AsArray().Select(v => (int)v!).ShouldBe(vokens);
        ((int)got["partition"]!).ShouldBe(vokens[0]);
        ((string)got["uri"]!).ShouldBe("file:///one.png");

        // Re-adding an id replaces it (here with features, and no URI).
        var replaced = JsonNode.Parse(await (await Http.PostAsJsonAsync("/v1/images", new { images = new[] { Features("life-1", -0.2f) } })).Content.ReadAsStringAsync())!;
        var newVokens = replaced["indexed"]![0]!["vokens"]!.AsArray().Select(v => (int)v!).ToArray();
        var again = JsonNode.Parse(await Http.GetStringAsync(new Uri("/v1/images/life-1", UriKind.Relative)))!;
        again["vokens"]!.AsArray().Select(v => (int)v!).ShouldBe(newVokens);
        again["uri"].ShouldBeNull();

        (await Http.DeleteAsync(new Uri("/v1/images/life-1", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await ShouldBeProblem(await Http.GetAsync(new Uri("/v1/images/life-1", UriKind.Relative)), HttpStatusCode.NotFound);
        await ShouldBeProblem(await Http.DeleteAsync(new Uri("/v1/images/life-1", UriKind.Relative)), HttpStatusCode.NotFound);
        (await Http.DeleteAsync(new Uri("/v1/images/life-2", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task Search_and_stats_follow_the_contract()
    {
        var test = fixture.Dataset.Images.Where(i => i.Split == Split.Test).Take(30).ToArray();
        var ingest = await Http.PostAsJsonAsync("/v1/images", new
        {
            images = test.Select(i => new { id = "s" + i.Index.ToString(CultureInfo.InvariantCulture), imageBase64 = Convert.ToBase64String(File.ReadAllBytes(fixture.Dataset.ImagePath(i))) }),
        });
        ingest.StatusCode.ShouldBe(HttpStatusCode.OK);

        var response = await Http.PostAsJsonAsync("/v1/search", new { query = test[0].Captions[0], k = 7, beam = 10 });
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var search = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        var results = search["results"]!.AsArray();
        results.Count.ShouldBe(7);
        var scores = results.Select(r => (float)r!["score"]!).ToArray();
        scores.ShouldBe(scores.OrderByDescending(s => s).ToArray());
        results.All(r => ((string)r!["imageId"]!).StartsWith('s')).ShouldBeTrue();
        results[0]!["vokens"]!.AsArray().Count.ShouldBe(TinyShapesBundle.Training.Levels);
        ((double)search["timing"]!["totalMs"]!).ShouldBeGreaterThan(0);
        ((int)search["timing"]!["fanOutCalls"]!).ShouldBeGreaterThanOrEqualTo(1);
        ((string)search["indexVersion"]!).ShouldNotBeNullOrEmpty();
        ((int)search["beam"]!).ShouldBe(10, "the beam searched with, as asked");

        // Level beams of one prefix each are greedy decoding: every result comes from one leaf.
        var greedy = JsonNode.Parse(await (await Http.PostAsJsonAsync("/v1/search", new { query = test[0].Captions[0], k = 10, levelBeams = new[] { 1, 1, 1 } })).Content.ReadAsStringAsync())!;
        var greedyResults = greedy["results"]!.AsArray();
        greedyResults.Count.ShouldBeGreaterThan(0);
        greedyResults.Select(r => string.Join(',', r!["vokens"]!.AsArray().Select(v => (int)v!))).Distinct().ShouldHaveSingleItem();
        greedy.AsObject().ContainsKey("beam").ShouldBeFalse("level beams, not one beam");

        // k defaults to 10, the beam to the one the bundle records.
        var byDefault = JsonNode.Parse(await (await Http.PostAsJsonAsync("/v1/search", new { query = "a shape" })).Content.ReadAsStringAsync())!;
        byDefault["results"]!.AsArray().Count.ShouldBe(10);
        ((int)byDefault["beam"]!).ShouldBe(TinyShapesBundle.Training.SearchBeam);

        await Task.Delay(2500); // query counts reach the catalog every 2 s
        var stats = JsonNode.Parse(await Http.GetStringAsync(new Uri("/v1/stats", UriKind.Relative)))!;
        ((int)stats["images"]!).ShouldBeGreaterThanOrEqualTo(30);
        ((int)stats["partitions"]!).ShouldBe(stats["partitionLoad"]!.AsArray().Count);
        stats["partitionLoad"]!.AsArray().Sum(p => (int)p!["images"]!).ShouldBe((int)stats["images"]!);
        stats["partitionLoad"]!.AsArray().Sum(p => (long)p!["queries"]!).ShouldBeGreaterThan(0);
        stats["shards"]!.AsArray().Count.ShouldBe(fixture.Silo.Options.Shards);
        stats["shards"]!.AsArray().Sum(s => (long)s!["images"]!).ShouldBeGreaterThanOrEqualTo(30);
        ((long)stats["queries"]!["count"]!).ShouldBeGreaterThanOrEqualTo(2);
        ((double)stats["queries"]!["p99Ms"]!).ShouldBeGreaterThanOrEqualTo((double)stats["queries"]!["p50Ms"]!);
        var silo = stats["silos"]!.AsArray().Single()!;
        silo["roles"]!.AsArray().Select(r => (string)r!).ShouldBe(["model", "partitions"]);
        ((bool)silo["model"]!).ShouldBeTrue();
        ((bool)silo["gpu"]!).ShouldBeFalse();
        ((string)silo["status"]!).ShouldBe("Active");
    }

    private static object Features(string id, float value = 0.1f) => new { id, features = Enumerable.Repeat(value, FeatureWidth).ToArray() };

    private Task<HttpResponseMessage> PostJson(string path, string json) =>
        Http.PostAsync(new Uri(path, UriKind.Relative), new StringContent(json, Encoding.UTF8, "application/json"));

    private static async Task<JsonNode> ShouldBeProblem(HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(status, text);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json", text);
        var problem = JsonNode.Parse(text)!;
        ((int)problem["status"]!).ShouldBe((int)status);
        ((string)problem["title"]!).ShouldNotBeNullOrEmpty();
        return problem;
    }
}
