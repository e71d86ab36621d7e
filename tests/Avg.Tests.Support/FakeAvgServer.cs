using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Avg.Client;
using Avg.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Avg.Tests.Support;

/// <summary>What the fake server received, in arrival order.</summary>
public sealed record RecordedRequest(string Method, string Path, string? ApiKey, string? UserAgent, string? ContentType, string Body, DateTimeOffset At)
{
    public JsonNode Json => JsonNode.Parse(Body)!;
}

/// <summary>
/// A Kestrel server on a free loopback port that speaks the HTTP API contract (docs/http-api.md) from memory, reading
/// and writing the silo's own body types (Avg.Http.Contracts): ingest stores images with made-up vokens, search ranks
/// the stored images, errors are problem+json.
/// Tests script departures from that (503s, Retry-After, slow answers) with <see cref="Enqueue"/>; every
/// request is recorded before it is answered.
/// </summary>
public sealed class FakeAvgServer : IAsyncDisposable
{
    public const string IndexVersion = "v-test";

    /// <summary>The silo's JSON: camelCase (web defaults) over the shared contract's types.</summary>
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Func<HttpContext, Task>> _scripted = new();

    private FakeAvgServer(WebApplication app, string? apiKey)
    {
        _app = app;
        RequiredApiKey = apiKey;
    }

    public Uri Endpoint { get; private set; } = null!;

    /// <summary>When set, <c>/v1/*</c> answers 401 unless <c>X-Api-Key</c> equals it.</summary>
    public string? RequiredApiKey { get; }

    /// <summary>What <c>/health/ready</c> says.</summary>
    public bool Ready { get; set; } = true;

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    /// <summary>The index: id → (vokens, uri, image bytes or features).</summary>
    public ConcurrentDictionary<string, StoredImage> Images { get; } = new(StringComparer.Ordinal);

    public IReadOnlyList<RecordedRequest> RequestsTo(string method, string path) =>
        Requests.Where(r => r.Method == method && r.Path == path).ToList();

    public static async Task<FakeAvgServer> StartAsync(string? apiKey = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var server = new FakeAvgServer(app, apiKey);
        app.Run(server.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.Endpoint = new Uri(address);
        // One request before the test's, so its timings do not include compiling the server's request pipeline.
        using (var warmUp = new HttpClient())
            (await warmUp.GetAsync(new Uri(server.Endpoint, "health/live"))).EnsureSuccessStatusCode();
        server.Requests.Clear();
        return server;
    }

    /// <summary>Waits until at least <paramref name="count"/> requests have arrived (the handler may run after the client gave up).</summary>
    public async Task WaitForRequestsAsync(int count, TimeSpan? timeout = null)
    {
        var deadline = DateTimeOffset.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (Requests.Count < count)
        {
            if (DateTimeOffset.UtcNow > deadline) throw new TimeoutException($"the server saw {Requests.Count} requests, expected {count}");
            await Task.Delay(10);
        }
    }

    /// <summary>The next request (after recording and the key check) is answered by <paramref name="respond"/>.</summary>
    public void Enqueue(Func<HttpContext, Task> respond) => _scripted.Enqueue(respond);

    public void EnqueueProblem(int status, string title, string? detail = null, IDictionary<string, string[]>? errors = null, string? retryAfter = null, int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            Enqueue(ctx =>
            {
                if (retryAfter is not null) ctx.Response.Headers.RetryAfter = retryAfter;
                return WriteProblem(ctx, status, title, detail, errors);
            });
        }
    }

    /// <summary>The next request waits <paramref name="delay"/> (or until the client gives up) before the normal answer.</summary>
    public void EnqueueDelay(TimeSpan delay, int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            Enqueue(async ctx =>
            {
                await Task.Delay(delay, ctx.RequestAborted);
                await AnswerAsync(ctx, await new StreamReader(ctx.Request.Body).ReadToEndAsync());
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        var body = await new StreamReader(ctx.Request.Body).ReadToEndAsync();
        Requests.Enqueue(new RecordedRequest(ctx.Request.Method, ctx.Request.Path.Value ?? "", ctx.Request.Headers["X-Api-Key"].FirstOrDefault(),
            ctx.Request.Headers.UserAgent.FirstOrDefault(), ctx.Request.ContentType, body, DateTimeOffset.UtcNow));
        ctx.Request.Body = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(body));
        try
        {
            if (RequiredApiKey is not null && ctx.Request.Path.StartsWithSegments("/v1") && ctx.Request.Headers["X-Api-Key"] != RequiredApiKey)
            {
                await WriteProblem(ctx, 401, "Unauthorized", "missing or wrong X-Api-Key");
                return;
            }
            if (_scripted.TryDequeue(out var respond))
            {
                await respond(ctx);
                return;
            }
            await AnswerAsync(ctx, body);
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The client gave up; nothing to answer.
        }
    }

    private Task AnswerAsync(HttpContext ctx, string body)
    {
        var method = ctx.Request.Method;
        var path = ctx.Request.Path.Value ?? "";
        return (method, path) switch
        {
            ("POST", "/v1/search") => SearchAsync(ctx, body),
            ("POST", "/v1/images") => IngestAsync(ctx, body),
            ("GET", "/v1/stats") => WriteBody(ctx, 200, Stats()),
            ("GET", "/health/live") => WriteJson(ctx, 200, new JsonObject { ["status"] = "live" }),
            ("GET", "/health/ready") => Ready ? WriteJson(ctx, 200, new JsonObject { ["status"] = "ready" }) : WriteProblem(ctx, 503, "Not ready", "the silo has not joined the cluster yet"),
            ("GET", _) when path.StartsWith("/v1/images/", StringComparison.Ordinal) => GetImageAsync(ctx, Uri.UnescapeDataString(path["/v1/images/".Length..])),
            ("DELETE", _) when path.StartsWith("/v1/images/", StringComparison.Ordinal) => DeleteImageAsync(ctx, Uri.UnescapeDataString(path["/v1/images/".Length..])),
            _ => WriteProblem(ctx, 404, "Not Found", $"no route {method} {path}"),
        };
    }

    private Task SearchAsync(HttpContext ctx, string body)
    {
        var request = JsonSerializer.Deserialize<SearchRequestBody>(body, Json)!;
        var query = (request.Query ?? "").Trim();
        var k = request.K ?? 10;
        var beam = request.Beam ?? 20;
        var errors = new Dictionary<string, string[]>();
        if (query.Length is < 1 or > 1000) errors["query"] = [$"must be 1…1000 characters after trimming, got {query.Length}"];
        if (k is < 1 or > 100) errors["k"] = [$"must be between 1 and 100, got {k}"];
        if (beam is < 1 or > 100) errors["beam"] = [$"must be between 1 and 100, got {beam}"];
        if (errors.Count > 0) return WriteProblem(ctx, 400, "One or more validation errors occurred.", null, errors);
        if (VersionConflict(ctx, request.IndexVersion) is { } conflict) return conflict;

        var ranked = !Images.IsEmpty
            ? Images.OrderBy(i => i.Key, StringComparer.Ordinal).Select(i => (i.Key, i.Value.Vokens, i.Value.Uri)).ToList()
            : [("42", new[] { 3, 17, 5, 9 }, (string?)"images/042.png"), ("7", [3, 17, 5, 2], null), ("3", [8, 1, 1, 4], "images/003.png")];
        var results = ranked.Take(k).Select((r, rank) => new SearchResult(r.Item1, -0.5 * (rank + 1), r.Item2, r.Item3)).ToArray();
        return WriteBody(ctx, 200, new SearchResults(results, IndexVersion, new SearchTiming(4.1, 3.2, 6), Partial: false, MissingPartitions: [], StalePartitions: [], StaleCatalog: false));
    }

    private Task IngestAsync(HttpContext ctx, string body)
    {
        var request = JsonSerializer.Deserialize<IngestRequestBody>(body, Json)!;
        var images = request.Images ?? [];
        var errors = new Dictionary<string, string[]>();
        if (images.Count > 1000) errors["images"] = [$"at most 1000 images per batch, got {images.Count}"];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var accepted = new List<(string Id, StoredImage Image)>();
        for (var i = 0; i < images.Count; i++)
        {
            var image = images[i] ?? new IngestImageBody(null, null, null, null);
            var id = image.Id ?? "";
            if (!seen.Add(id)) errors[$"images[{i}].id"] = [$"duplicate id '{id}' in this batch"];
            if ((image.ImageBase64 is null) == (image.Features is null))
            {
                errors[$"images[{i}]"] = ["give exactly one of imageBase64 and features"];
                continue;
            }
            byte[]? bytes = null;
            if (image.ImageBase64 is { } base64)
            {
                try { bytes = Convert.FromBase64String(base64); }
                catch (FormatException) { errors[$"images[{i}].imageBase64"] = ["not valid base64"]; continue; }
            }
            var first = (int)(((uint)string.GetHashCode(id, StringComparison.Ordinal)) % 61);
            accepted.Add((id, new StoredImage([first, id.Length % 8, 1, 2], image.Uri, bytes, image.Features)));
        }
        if (errors.Count > 0) return WriteProblem(ctx, 400, "One or more validation errors occurred.", null, errors);
        if (VersionConflict(ctx, request.IndexVersion) is { } conflict) return conflict;

        foreach (var (id, image) in accepted) Images[id] = image;
        var indexed = accepted.Select(a => new IndexedImage(a.Id, a.Image.Vokens, a.Image.Vokens[0], Fine: [])).ToArray();
        return WriteBody(ctx, 200, new IndexImagesResult(indexed, IndexVersion, 12.5));
    }

    private Task GetImageAsync(HttpContext ctx, string id) => Images.TryGetValue(id, out var image)
        ? WriteBody(ctx, 200, new ImageBody(id, image.Vokens, image.Vokens[0], image.Uri))
        : WriteProblem(ctx, 404, "Not Found", $"no image with id '{id}'");

    private Task DeleteImageAsync(HttpContext ctx, string id)
    {
        if (!Images.TryRemove(id, out _)) return WriteProblem(ctx, 404, "Not Found", $"no image with id '{id}'");
        ctx.Response.StatusCode = 204;
        return Task.CompletedTask;
    }

    private IndexStats Stats() => new(
        Images.Count,
        Images.Values.Select(i => i.Vokens[0]).Distinct().Count(),
        IndexVersion,
        [new ShardStats(0, Images.Count, 812.0, 40.5, [0, 38.2, 40.5])],
        [new PartitionLoad(3, 17, 40)],
        new QueryStats(200, 4.0, 9.5, 31.0),
        [new SiloInfo("10.0.0.5:11111", ["model", "partitions"], Model: true, Gpu: false, Status: "Active")]);

    private static Task? VersionConflict(HttpContext ctx, string? version) =>
        version is not null && version != IndexVersion
            ? WriteProblem(ctx, 409, "Index version conflict", $"index version '{version}' is not served; this server serves '{IndexVersion}'")
            : null;

    public static Task WriteJson(HttpContext ctx, int status, JsonNode body)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json; charset=utf-8";
        return ctx.Response.WriteAsync(body.ToJsonString());
    }

    /// <summary>Writes a body of the shared contract (Avg.Http.Contracts) as the silo does: camelCase.</summary>
    public static Task WriteBody<T>(HttpContext ctx, int status, T body)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json; charset=utf-8";
        return ctx.Response.WriteAsync(JsonSerializer.Serialize(body, Json));
    }

    public static Task WriteProblem(HttpContext ctx, int status, string title, string? detail = null, IDictionary<string, string[]>? errors = null)
    {
        var problem = new JsonObject
        {
            ["type"] = string.Create(CultureInfo.InvariantCulture, $"https://tools.ietf.org/html/rfc9110#status-{status}"),
            ["title"] = title,
            ["status"] = status,
        };
        if (detail is not null) problem["detail"] = detail;
        if (errors is not null)
            problem["errors"] = JsonSerializer.SerializeToNode(errors);
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/problem+json";
        return ctx.Response.WriteAsync(problem.ToJsonString());
    }
}

/// <summary>An image as the fake server stores it.</summary>
public sealed record StoredImage(int[] Vokens, string? Uri, byte[]? Image, float[]? Features);
