using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
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
/// A Kestrel server on a free loopback port that speaks the HTTP API contract (docs/http-api.md) from memory:
/// ingest stores images with made-up vokens, search ranks the stored images, errors are problem+json.
/// Tests script departures from that (503s, Retry-After, slow answers) with <see cref="Enqueue"/>; every
/// request is recorded before it is answered.
/// </summary>
public sealed class FakeAvgServer : IAsyncDisposable
{
    public const string IndexVersion = "v-test";

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
            ("GET", "/v1/stats") => WriteJson(ctx, 200, Stats()),
            ("GET", "/health/live") => WriteJson(ctx, 200, new JsonObject { ["status"] = "live" }),
            ("GET", "/health/ready") => Ready ? WriteJson(ctx, 200, new JsonObject { ["status"] = "ready" }) : WriteProblem(ctx, 503, "Not ready", "the silo has not joined the cluster yet"),
            ("GET", _) when path.StartsWith("/v1/images/", StringComparison.Ordinal) => GetImageAsync(ctx, Uri.UnescapeDataString(path["/v1/images/".Length..])),
            ("DELETE", _) when path.StartsWith("/v1/images/", StringComparison.Ordinal) => DeleteImageAsync(ctx, Uri.UnescapeDataString(path["/v1/images/".Length..])),
            _ => WriteProblem(ctx, 404, "Not Found", $"no route {method} {path}"),
        };
    }

    private Task SearchAsync(HttpContext ctx, string body)
    {
        var request = JsonNode.Parse(body)!.AsObject();
        var query = ((string?)request["query"] ?? "").Trim();
        var k = (int?)request["k"] ?? 10;
        var beam = (int?)request["beam"] ?? 20;
        var errors = new Dictionary<string, string[]>();
        if (query.Length is < 1 or > 1000) errors["query"] = [$"must be 1…1000 characters after trimming, got {query.Length}"];
        if (k is < 1 or > 100) errors["k"] = [$"must be between 1 and 100, got {k}"];
        if (beam is < 1 or > 100) errors["beam"] = [$"must be between 1 and 100, got {beam}"];
        if (errors.Count > 0) return WriteProblem(ctx, 400, "One or more validation errors occurred.", null, errors);
        if (VersionConflict(ctx, request) is { } conflict) return conflict;

        var ranked = !Images.IsEmpty
            ? Images.OrderBy(i => i.Key, StringComparer.Ordinal).Select(i => (i.Key, i.Value.Vokens, i.Value.Uri)).ToList()
            : [("42", new[] { 3, 17, 5, 9 }, (string?)"images/042.png"), ("7", [3, 17, 5, 2], null), ("3", [8, 1, 1, 4], "images/003.png")];
        var results = new JsonArray();
        foreach (var (id, vokens, uri) in ranked.Take(k))
            results.Add(new JsonObject { ["imageId"] = id, ["score"] = -0.5 * (results.Count + 1), ["vokens"] = ToJson(vokens), ["uri"] = uri });
        return WriteJson(ctx, 200, new JsonObject
        {
            ["results"] = results,
            ["indexVersion"] = IndexVersion,
            ["timing"] = new JsonObject { ["totalMs"] = 4.1, ["generatorMs"] = 3.2, ["fanOutCalls"] = 6 },
        });
    }

    private Task IngestAsync(HttpContext ctx, string body)
    {
        var request = JsonNode.Parse(body)!.AsObject();
        var images = request["images"]!.AsArray();
        var errors = new Dictionary<string, string[]>();
        if (images.Count > 1000) errors["images"] = [$"at most 1000 images per batch, got {images.Count}"];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var accepted = new List<(string Id, StoredImage Image)>();
        for (var i = 0; i < images.Count; i++)
        {
            var image = images[i]!.AsObject();
            var id = (string?)image["id"] ?? "";
            if (!seen.Add(id)) errors[$"images[{i}].id"] = [$"duplicate id '{id}' in this batch"];
            var base64 = (string?)image["imageBase64"];
            var features = image["features"]?.AsArray().Select(f => (float)f!).ToArray();
            if ((base64 is null) == (features is null))
            {
                errors[$"images[{i}]"] = ["give exactly one of imageBase64 and features"];
                continue;
            }
            byte[]? bytes = null;
            if (base64 is not null)
            {
                try { bytes = Convert.FromBase64String(base64); }
                catch (FormatException) { errors[$"images[{i}].imageBase64"] = ["not valid base64"]; continue; }
            }
            var first = (int)(((uint)string.GetHashCode(id, StringComparison.Ordinal)) % 61);
            accepted.Add((id, new StoredImage([first, id.Length % 8, 1, 2], (string?)image["uri"], bytes, features)));
        }
        if (errors.Count > 0) return WriteProblem(ctx, 400, "One or more validation errors occurred.", null, errors);
        if (VersionConflict(ctx, request) is { } conflict) return conflict;

        var indexed = new JsonArray();
        foreach (var (id, image) in accepted)
        {
            Images[id] = image;
            indexed.Add(new JsonObject { ["id"] = id, ["vokens"] = ToJson(image.Vokens), ["partition"] = image.Vokens[0] });
        }
        return WriteJson(ctx, 200, new JsonObject { ["indexed"] = indexed, ["indexVersion"] = IndexVersion, ["elapsedMs"] = 12.5 });
    }

    private Task GetImageAsync(HttpContext ctx, string id) => Images.TryGetValue(id, out var image)
        ? WriteJson(ctx, 200, new JsonObject { ["id"] = id, ["vokens"] = ToJson(image.Vokens), ["partition"] = image.Vokens[0], ["uri"] = image.Uri })
        : WriteProblem(ctx, 404, "Not Found", $"no image with id '{id}'");

    private Task DeleteImageAsync(HttpContext ctx, string id)
    {
        if (!Images.TryRemove(id, out _)) return WriteProblem(ctx, 404, "Not Found", $"no image with id '{id}'");
        ctx.Response.StatusCode = 204;
        return Task.CompletedTask;
    }

    private JsonObject Stats() => new()
    {
        ["images"] = Images.Count,
        ["partitions"] = Images.Values.Select(i => i.Vokens[0]).Distinct().Count(),
        ["indexVersion"] = IndexVersion,
        ["shards"] = new JsonArray(new JsonObject { ["shard"] = 0, ["images"] = Images.Count, ["imagesPerSecond"] = 812.0 }),
        ["partitionLoad"] = new JsonArray(new JsonObject { ["partition"] = 3, ["images"] = 17, ["queries"] = 40 }),
        ["queries"] = new JsonObject { ["count"] = 200, ["p50Ms"] = 4.0, ["p99Ms"] = 9.5, ["queriesPerSecond"] = 31.0 },
        ["silos"] = new JsonArray(new JsonObject
        {
            ["address"] = "10.0.0.5:11111", ["roles"] = new JsonArray("model", "partitions"), ["model"] = true, ["gpu"] = false, ["status"] = "Active",
        }),
    };

    private static Task? VersionConflict(HttpContext ctx, JsonObject request) =>
        (string?)request["indexVersion"] is { } version && version != IndexVersion
            ? WriteProblem(ctx, 409, "Index version conflict", $"index version '{version}' is not served; this server serves '{IndexVersion}'")
            : null;

    private static JsonArray ToJson(IEnumerable<int> vokens) => new(vokens.Select(v => (JsonNode)v).ToArray());

    public static Task WriteJson(HttpContext ctx, int status, JsonNode body)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json; charset=utf-8";
        return ctx.Response.WriteAsync(body.ToJsonString());
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
