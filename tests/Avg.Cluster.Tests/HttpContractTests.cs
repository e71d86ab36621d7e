using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;
using Avg.Client;
using Avg.Cluster.Hosting;
using Avg.Http;
using Avg.Silo.Http;
using Avg.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using JsonOptions = Microsoft.AspNetCore.Http.Json.JsonOptions;
using Sdk = Avg.Client;

namespace Avg.Cluster.Tests;

/// <summary>
/// The HTTP contract held in one place (docs/design.md, "HTTP API"): every answer the silo writes, with every field set,
/// is read by the client SDK into the same fields and values, the SDK's requests read back on the silo as sent, and the
/// bodies of docs/http-api.md have exactly the fields of the shared types. Fails when the silo's JSON settings, the
/// SDK's source-generated context, or the documentation drift from the types.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Unit)]
public sealed partial class HttpContractTests
{
    private const string Version = "3f9c0d";

    /// <summary>The one field of a shared type that an answer leaves out: ingest entries never carry the image's URI.</summary>
    private const string IngestUri = "indexed[].uri";

    /// <summary>The silo's JSON settings, as its HTTP API configures them.</summary>
    private static readonly JsonSerializerOptions Silo = SiloJson();

    private static readonly Sdk.SearchResults SearchAnswer = new(
        [new Sdk.SearchResult("42", -1.73f, [3, 17, 5, 9], "shapes://000042.png"), new Sdk.SearchResult("7", -2.0625f, [3, 17, 5, 1], "https://cdn.example.org/7.png")],
        Version,
        new Sdk.SearchTiming(4.1, 3.2, 6, 0.3, 0.2),
        Partial: true,
        MissingPartitions: [5],
        StalePartitions: [8, 9],
        StaleCatalog: true,
        Beam: 9);

    private static readonly Sdk.IndexImagesResult IngestAnswer = new([new Sdk.IndexedImage("42", [3, 17, 5, 9], 3, Fine: [201, 14])], Version, 12.5);

    private static readonly ImageBody ImageAnswer = new("42", [3, 17, 5, 9], 3, "shapes://000042.png");

    private static readonly Sdk.IndexStats StatsAnswer = new(
        1000,
        61,
        Version,
        [new Sdk.ShardStats(0, 250, 812.0, 40.5, [0, 38.2, 40.5])],
        [new Sdk.PartitionLoad(3, 17, 40)],
        new Sdk.QueryStats(200, 4.0, 9.5, 31.0),
        [new Sdk.SiloInfo("10.0.0.5:11111", ["model", "partitions"], Model: true, Gpu: true, Status: "Active")]);

    [Fact]
    public void The_samples_set_every_field_of_the_shared_types()
    {
        // Otherwise a field added to a type but not here would go unchecked by the round trips below.
        Paths(Answer(SearchAnswer), withNulls: false).ShouldBe(Fields(typeof(Sdk.SearchResults)), ignoreOrder: true);
        Paths(Answer(IngestAnswer), withNulls: false).ShouldBe(Fields(typeof(Sdk.IndexImagesResult)).Except([IngestUri]), ignoreOrder: true);
        Paths(Answer(ImageAnswer), withNulls: false).ShouldBe(Fields(typeof(ImageBody)), ignoreOrder: true);
        Paths(Answer(StatsAnswer), withNulls: false).ShouldBe(Fields(typeof(Sdk.IndexStats)), ignoreOrder: true);
    }

    [Fact]
    public async Task Every_silo_answer_reads_through_the_sdk_with_every_field_and_value()
    {
        using var server = new ContractHandler();
        using var http = new HttpClient(server);
        var client = new AvgSearchClient(new Uri("http://silo.test"), http);

        var found = await client.SearchAsync(new SearchQuery("a red circle", K: 2, Beam: 9));
        var indexed = await client.IndexImagesAsync([ImageToIndex.FromFeatures("42", new float[] { 1f })]);
        var image = await client.GetImageAsync("42");
        var stats = await client.GetStatsAsync();

        // What the SDK read, written again by the SDK's own context, is the silo's answer byte for byte.
        AsSdkWrites(found, AvgJsonContext.Wire.SearchResults).ShouldBe(server.Answered["/v1/search"]);
        AsSdkWrites(indexed, AvgJsonContext.Wire.IndexImagesResult).ShouldBe(server.Answered["/v1/images"]);
        AsSdkWrites(stats, AvgJsonContext.Wire.IndexStats).ShouldBe(server.Answered["/v1/stats"]);
        found.Results[0].Score.ShouldBe(-1.73, "the score as written, not its single-precision value widened");

        // GET /v1/images/{id} comes back as the SDK's IndexedImage: the same four fields.
        var read = image.ShouldNotBeNull();
        read.ShouldBe(new Sdk.IndexedImage(ImageAnswer.Id, read.Vokens, ImageAnswer.Partition, ImageAnswer.Uri, Fine: null));
        read.Vokens.ShouldBe(ImageAnswer.Vokens);
        JsonSerializer.Serialize(read, Silo).ShouldBe(server.Answered["/v1/images/42"]);
    }

    [Fact]
    public async Task Every_sdk_request_reads_on_the_silo_as_sent()
    {
        using var server = new ContractHandler();
        using var http = new HttpClient(server);
        var client = new AvgSearchClient(new Uri("http://silo.test"), http);
        byte[] png = [0x89, (byte)'P', (byte)'N', (byte)'G', 0xFB, 0xFF, 0xFE, 1, 2, 3]; // base64 with '+' and '/'

        await client.SearchAsync(new SearchQuery("a red circle", K: 7, Beam: 9, IndexVersion: Version, LevelBeams: [20, 40, 20]));
        await client.SearchAsync("a blue square");
        await client.IndexImagesAsync([ImageToIndex.FromImage("1", png, "images/001.png"), ImageToIndex.FromFeatures("2", new float[] { 0.25f, -1.5f, 3.1f })], Version);

        var searches = server.Received["/v1/search"].Select(b => JsonSerializer.Deserialize<SearchRequestBody>(b, Silo)!).ToArray();
        searches[0].ShouldBe(new SearchRequestBody("a red circle", 7, 9, Version, searches[0].LevelBeams));
        searches[0].LevelBeams.ShouldBe([20, 40, 20]);
        searches[1].ShouldBe(new SearchRequestBody("a blue square", 10, Beam: null, IndexVersion: null, LevelBeams: null));
        server.Received["/v1/search"][1].ShouldNotContain("levelBeams", customMessage: "left out unless set");
        server.Received["/v1/search"][1].ShouldNotContain("beam", customMessage: "left out unless set: the server then searches with the index's default");

        var ingest = JsonSerializer.Deserialize<IngestRequestBody>(server.Received["/v1/images"].ShouldHaveSingleItem(), Silo)!;
        ingest.IndexVersion.ShouldBe(Version);
        var images = ingest.Images.ShouldNotBeNull();
        images.Count.ShouldBe(2);
        images[0].ShouldBe(new IngestImageBody("1", Convert.ToBase64String(png), Features: null, "images/001.png"));
        var features = images[1].ShouldNotBeNull();
        features.ShouldBe(new IngestImageBody("2", ImageBase64: null, features.Features, Uri: null));
        features.Features.ShouldBe([0.25f, -1.5f, 3.1f]);
        server.Received["/v1/images"][0].ShouldNotContain("\\u002B", customMessage: "base64 is sent as is, not escaped");
    }

    [Fact]
    public void The_bodies_of_docs_http_api_have_the_fields_of_the_shared_types()
    {
        var doc = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "http-api.md"));
        Documented(doc, "SearchResponse").ShouldBe(Fields(typeof(Sdk.SearchResults)), ignoreOrder: true);
        Documented(doc, "IngestResponse").ShouldBe(Fields(typeof(Sdk.IndexImagesResult)).Except([IngestUri]), ignoreOrder: true);
        Documented(doc, "StatsResponse").ShouldBe(Fields(typeof(Sdk.IndexStats)), ignoreOrder: true);
        Documented(doc, "NeighboursResponse").ShouldBe(Fields(typeof(NeighboursBody)), ignoreOrder: true);
        Endpoint(doc, "GET", "/v1/images/{id}").ShouldBe(Fields(typeof(ImageBody)), ignoreOrder: true);

        // The request rows show the usual fields; the optional ones are described below the table.
        foreach (var (method, path, type) in new[] { ("POST", "/v1/search", typeof(SearchRequestBody)), ("POST", "/v1/images", typeof(IngestRequestBody)) })
        {
            var shown = Endpoint(doc, method, path);
            shown.ShouldBeSubsetOf(Fields(type), $"{method} {path}");
            foreach (var field in Fields(type).Except(shown))
            {
                doc.ShouldContain($"`{field.Split('.')[^1]}`", Case.Sensitive, $"{method} {path}: {field} is neither in the example nor described");
            }
        }
    }

    private static JsonSerializerOptions SiloJson()
    {
        var services = new ServiceCollection();
        services.AddAvgHttpApi(new AvgSiloOptions());
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
    }

    private static JsonNode Answer(object body) => JsonSerializer.SerializeToNode(body, body.GetType(), Silo)!;

    private static string AsSdkWrites<T>(T value, JsonTypeInfo<T> type) => JsonSerializer.Serialize(value, type);

    /// <summary>The JSON field paths of a type as the silo writes it, e.g. <c>results[].imageId</c>.</summary>
    private static HashSet<string> Fields(Type type)
    {
        var fields = new HashSet<string>(StringComparer.Ordinal);
        Walk(type, "");
        return fields;

        void Walk(Type t, string at)
        {
            var info = Silo.GetTypeInfo(t);
            if (info.Kind == JsonTypeInfoKind.Object)
            {
                foreach (var property in info.Properties)
                {
                    var path = at.Length == 0 ? property.Name : at + "." + property.Name;
                    fields.Add(path);
                    Walk(property.PropertyType, path);
                }
            }
            else if (info.Kind == JsonTypeInfoKind.Enumerable)
            {
                Walk(info.ElementType!, at + "[]");
            }
        }
    }

    /// <summary>The field paths present in a JSON body (those with null values only <paramref name="withNulls"/>).</summary>
    private static HashSet<string> Paths(JsonNode body, bool withNulls)
    {
        var paths = new HashSet<string>(StringComparer.Ordinal);
        Walk(body, "");
        return paths;

        void Walk(JsonNode? node, string at)
        {
            switch (node)
            {
                case JsonObject o:
                    foreach (var (name, value) in o)
                    {
                        var path = at.Length == 0 ? name : at + "." + name;
                        if (value is not null || withNulls)
                        {
                            paths.Add(path);
                        }

                        Walk(value, path);
                    }

                    break;
                case JsonArray a:
                    foreach (var item in a)
                    {
                        Walk(item, at + "[]");
                    }

                    break;
            }
        }
    }

    /// <summary>The fields of a named body in the docs' examples block (<c>SearchResponse  {…}</c>, over several lines).</summary>
    private static HashSet<string> Documented(string doc, string name)
    {
        var start = Regex.Match(doc, $@"^{name}\s+\{{", RegexOptions.Multiline);
        start.Success.ShouldBeTrue($"docs/http-api.md has no {name} example");
        var rest = doc[(start.Index + name.Length)..];
        var end = Regex.Match(rest, @"^(\w+\s+\{|```)", RegexOptions.Multiline);
        return Paths(ParseExample(rest[..end.Index]), withNulls: true);
    }

    /// <summary>The fields of the JSON example in an endpoint's row of the table (the request body, or a response).</summary>
    private static HashSet<string> Endpoint(string doc, string method, string path)
    {
        var row = doc.Split('\n').FirstOrDefault(l => l.StartsWith($"| {method} | `{path}` |", StringComparison.Ordinal));
        row.ShouldNotBeNull($"docs/http-api.md has no {method} {path} row");
        return Paths(ParseExample(ExampleInRow().Match(row).Groups[1].Value), withNulls: true);
    }

    /// <summary>An example as JSON: the docs elide values with "…" and give alternatives with "｜".</summary>
    private static JsonNode ParseExample(string text) =>
        JsonNode.Parse(text.Replace("…,", "", StringComparison.Ordinal).Replace("[…]", "[]", StringComparison.Ordinal).Replace("｜", ",", StringComparison.Ordinal))!;

    [GeneratedRegex(@"`(\{.*\})`")]
    private static partial Regex ExampleInRow();

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Avg.Cluster.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"Avg.Cluster.sln not found above {AppContext.BaseDirectory}");
    }

    /// <summary>Answers each endpoint with the sample, written with the silo's settings; records what it received.</summary>
    private sealed class ContractHandler : HttpMessageHandler
    {
        public Dictionary<string, string> Answered { get; } = [];

        public Dictionary<string, List<string>> Received { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var path = request.RequestUri!.AbsolutePath;
            if (request.Content is not null)
            {
                var body = await request.Content.ReadAsStringAsync(cancellationToken);
                if (!Received.TryGetValue(path, out var bodies))
                {
                    Received[path] = bodies = [];
                }

                bodies.Add(body);
            }

            object answer = path switch
            {
                "/v1/search" => SearchAnswer,
                "/v1/images" => IngestAnswer,
                "/v1/images/42" => ImageAnswer,
                "/v1/stats" => StatsAnswer,
                _ => throw new InvalidOperationException($"no sample for {path}"),
            };
            var json = JsonSerializer.Serialize(answer, answer.GetType(), Silo);
            Answered[path] = json;
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json") };
        }
    }
}
