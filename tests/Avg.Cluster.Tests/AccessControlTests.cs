using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Avg.Client;
using Avg.Cluster.Hosting;
using Avg.Cluster.Tests.Support;
using Avg.Silo.Http;
using Avg.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Avg.Cluster.Tests;

/// <summary>
/// A real silo with hashed read and write keys, a legacy <c>Avg__ApiKeys</c> key, protected pages, a rate limit and a
/// small request-size limit; its logs are kept to check that no key or image bytes reach them.
/// </summary>
public sealed class AccessSiloFixture : IAsyncLifetime
{
    public const string Reader = "reader-key-7f3a", Writer = "writer-key-91bc", Legacy = "legacy-key-55d0", Limited = "limited-key-2e81";
    public const int RateLimit = 12;
    public const int MaxRequestBytes = 64 * 1024;

    public EmbeddedSilo Silo { get; private set; } = null!;

    public CapturedLogs Logs { get; } = new();

    public Uri BaseAddress => Silo.Http.BaseAddress!;

    public async Task InitializeAsync()
    {
        Silo = await EmbeddedSilo.StartAsync(
            TinyShapesBundle.Ensure(),
            apiKeys: Legacy,
            configure: o =>
            {
                o.ReadKeyHashes = $"{ApiKeyRing.HashHex(Reader)}, {ApiKeyRing.HashHex(Limited)}";
                o.WriteKeyHashes = ApiKeyRing.HashHex(Writer).ToUpperInvariant();
                o.ProtectPages = true;
                o.RateLimitRequests = RateLimit;
                o.RateLimitWindowSeconds = 60;
                o.MaxRequestBytes = MaxRequestBytes;
            },
            host: b => b.Logging.AddProvider(Logs));
    }

    public HttpClient Client(string? key)
    {
        var http = new HttpClient { BaseAddress = BaseAddress };
        if (key is not null)
        {
            http.DefaultRequestHeaders.Add("X-Api-Key", key);
        }

        return http;
    }

    public async Task DisposeAsync() => await Silo.DisposeAsync();
}

/// <summary>Every log line the silo writes, for checking what never appears in them.</summary>
public sealed class CapturedLogs : ILoggerProvider
{
    private readonly List<string> _lines = [];

    public string Text
    {
        get
        {
            lock (_lines)
            {
                return string.Join("\n", _lines);
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (owner._lines)
            {
                owner._lines.Add($"{category}: {formatter(state, exception)} {exception}");
            }
        }
    }
}

[Trait(TestCategory.Name, TestCategory.Integration)]
public class AccessControlTests(AccessSiloFixture fixture) : IClassFixture<AccessSiloFixture>
{
    private static readonly float[] Features = [.. Enumerable.Range(0, 32).Select(i => (i % 5) * 0.1f)];

    [Fact]
    public async Task A_wrong_or_missing_key_gets_401_problem()
    {
        using var none = fixture.Client(null);
        await ShouldBeProblem(await none.PostAsJsonAsync("/v1/search", new { query = "red" }), HttpStatusCode.Unauthorized);
        using var wrong = fixture.Client("reader-key-7f3b");
        await ShouldBeProblem(await wrong.GetAsync(new Uri("/v1/stats", UriKind.Relative)), HttpStatusCode.Unauthorized);
        using var bearer = fixture.Client(null);
        bearer.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "not-a-key");
        await ShouldBeProblem(await bearer.GetAsync(new Uri("/v1/stats", UriKind.Relative)), HttpStatusCode.Unauthorized);
        (await none.GetAsync(new Uri("/health/ready", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK, "health stays open for probes");
    }

    [Fact]
    public async Task A_read_key_searches_and_reads_but_gets_403_on_ingest_and_delete()
    {
        using var reader = fixture.Client(AccessSiloFixture.Reader);
        (await reader.PostAsJsonAsync("/v1/search", new { query = "a red circle" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await reader.GetAsync(new Uri("/v1/stats", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await reader.GetAsync(new Uri("/v1/images/nobody", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.NotFound);

        await ShouldBeProblem(await reader.PostAsJsonAsync("/v1/images", new { images = new[] { new { id = "read-only", features = Features } } }), HttpStatusCode.Forbidden);
        await ShouldBeProblem(await reader.PostAsJsonAsync("/V1/Images", new { images = new[] { new { id = "read-only", features = Features } } }), HttpStatusCode.Forbidden);
        await ShouldBeProblem(await reader.DeleteAsync(new Uri("/v1/images/read-only", UriKind.Relative)), HttpStatusCode.Forbidden);
        using var writer = fixture.Client(AccessSiloFixture.Writer);
        (await writer.GetAsync(new Uri("/v1/images/read-only", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.NotFound, "the refused ingest indexed nothing");
    }

    [Fact]
    public async Task A_write_key_and_a_legacy_ApiKeys_key_ingest_delete_and_search_through_the_sdk()
    {
        foreach (var (key, id) in new[] { (AccessSiloFixture.Writer, "by-writer"), (AccessSiloFixture.Legacy, "by-legacy") })
        {
            var client = new AvgSearchClient(fixture.BaseAddress, new AvgSearchClientOptions { ApiKey = key });
            var indexed = await client.IndexImagesAsync([ImageToIndex.FromFeatures(id, Features)]);
            indexed.Indexed.Single().Id.ShouldBe(id);
            (await client.GetImageAsync(id)).ShouldNotBeNull();
            (await client.SearchAsync("a red circle", k: 3)).Results.ShouldNotBeEmpty();
            (await client.DeleteImageAsync(id)).ShouldBeTrue();
        }

        var reader = new AvgSearchClient(fixture.BaseAddress, new AvgSearchClientOptions { ApiKey = AccessSiloFixture.Reader });
        var refused = await Should.ThrowAsync<AvgRequestException>(() => reader.IndexImagesAsync([ImageToIndex.FromFeatures("sdk-read", Features)]));
        refused.Status.ShouldBe(403);
    }

    [Fact]
    public async Task Past_the_rate_limit_a_key_gets_429_with_Retry_After_and_other_keys_do_not()
    {
        using var limited = fixture.Client(AccessSiloFixture.Limited);
        for (var i = 0; i < AccessSiloFixture.RateLimit; i++)
        {
            (await limited.GetAsync(new Uri("/v1/images/nobody", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.NotFound, $"request {i + 1}");
        }

        using var response = await limited.GetAsync(new Uri("/v1/images/nobody", UriKind.Relative));
        var problem = await ShouldBeProblem(response, HttpStatusCode.TooManyRequests);
        response.Headers.RetryAfter!.Delta!.Value.TotalSeconds.ShouldBeInRange(1, 60);
        ((string)problem["detail"]!).ShouldContain("retry after");
        using var other = fixture.Client(AccessSiloFixture.Reader);
        (await other.GetAsync(new Uri("/v1/images/nobody", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.NotFound, "each key has its own limit");
    }

    [Fact]
    public async Task A_body_over_the_request_size_limit_gets_413_problem()
    {
        using var writer = fixture.Client(AccessSiloFixture.Writer);
        var big = "{\"images\":[{\"id\":\"big\",\"imageBase64\":\"" + new string('A', AccessSiloFixture.MaxRequestBytes) + "\"}]}";
        using var sized = new StringContent(big, Encoding.UTF8, "application/json");
        var problem = await ShouldBeProblem(await writer.PostAsync(new Uri("/v1/images", UriKind.Relative), sized), HttpStatusCode.RequestEntityTooLarge);
        ((string)problem["detail"]!).ShouldContain(AccessSiloFixture.MaxRequestBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));

        // Without a Content-Levels the limit is met while reading: the silo answers 413 and closes the connection. A
        // client still sending the body's last chunk then may see the connection close before it reads the answer
        // (Kestrel does not drain a body over the limit); either way nothing is indexed and the silo stays ready.
        using var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big)));
        chunked.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/v1/images", UriKind.Relative)) { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        HttpResponseMessage? answered = null;
        try
        {
            answered = await writer.SendAsync(request);
        }
        catch (HttpRequestException e) when (e.InnerException is IOException)
        {
            // The connection closed while the client was sending: the refusal arrived as the close.
        }

        if (answered is not null)
        {
            await ShouldBeProblem(answered, HttpStatusCode.RequestEntityTooLarge);
            answered.Dispose();
        }

        (await writer.GetAsync(new Uri("/v1/images/big", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await writer.GetAsync(new Uri("/health/ready", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Protected_pages_dashboard_metrics_and_openapi_need_a_key()
    {
        using var none = fixture.Client(null);
        foreach (var path in new[] { "/metrics", "/", "/shards.html", "/dashboard/", "/openapi/v1.json", "/images/x.png" })
        {
            var response = await none.GetAsync(new Uri(path, UriKind.Relative));
            await ShouldBeProblem(response, HttpStatusCode.Unauthorized);
            response.Headers.WwwAuthenticate.ShouldContain(h => h.Scheme == "Basic", path);
        }

        using var reader = fixture.Client(AccessSiloFixture.Reader);
        (await reader.GetStringAsync(new Uri("/metrics", UriKind.Relative))).ShouldContain("orleans_");
        (await reader.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK);

        // A browser sends the key it was asked for as the Basic password.
        using var browser = fixture.Client(null);
        browser.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("anyone:" + AccessSiloFixture.Reader)));
        var page = await browser.GetAsync(new Uri("/", UriKind.Relative));
        page.StatusCode.ShouldBe(HttpStatusCode.OK);
        page.Content.Headers.ContentType!.MediaType.ShouldBe("text/html");
        using var bearer = fixture.Client(null);
        bearer.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AccessSiloFixture.Reader);
        (await bearer.GetAsync(new Uri("/metrics", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK, "what a Prometheus ServiceMonitor sends");
    }

    [Fact]
    public async Task Neither_keys_nor_image_bytes_reach_the_logs()
    {
        var png = Convert.ToBase64String(File.ReadAllBytes(TinyShapesBundle.Dataset().ImagePath(TinyShapesBundle.Dataset().Images[0])));
        using var writer = fixture.Client(AccessSiloFixture.Writer);
        (await writer.PostAsJsonAsync("/v1/images", new { images = new[] { new { id = "logged", imageBase64 = png[..200] } } })).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await writer.PostAsJsonAsync("/v1/images", new { images = new[] { new { id = "logged", imageBase64 = png } } })).StatusCode.ShouldBe(HttpStatusCode.OK);
        using var wrong = fixture.Client("secret-guess-0042");
        (await wrong.GetAsync(new Uri("/v1/stats", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);

        var logs = fixture.Logs.Text;
        foreach (var secret in new[] { AccessSiloFixture.Reader, AccessSiloFixture.Writer, AccessSiloFixture.Legacy, AccessSiloFixture.Limited, "secret-guess-0042", png[..40], png[^40..] })
        {
            logs.ShouldNotContain(secret);
        }
    }

    [Fact]
    public void Key_hash_settings_that_are_not_hashes_are_refused_without_echoing_them()
    {
        var options = new AvgSiloOptions { Bundle = TinyShapesBundle.Ensure(), ReadKeyHashes = "my-plain-key" };
        var refused = Should.Throw<AvgException>(() => options.Validate());
        refused.Message.ShouldContain("Avg__ReadKeyHashes");
        refused.Message.ShouldNotContain("my-plain-key");
        Should.Throw<AvgException>(() => new AvgSiloOptions { Bundle = TinyShapesBundle.Ensure(), RateLimitWindowSeconds = 0 }.Validate());
    }

    private static async Task<JsonNode> ShouldBeProblem(HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(status, text);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json", text);
        var problem = JsonNode.Parse(text)!;
        ((int)problem["status"]!).ShouldBe((int)status);
        return problem;
    }
}
