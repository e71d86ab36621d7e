using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Avg.Http;

namespace Avg.Client;

/// <summary>
/// Searches and fills an AVG Cluster over its HTTP API (docs/http-api.md). Thread-safe: create one per
/// endpoint and share it. Failed attempts are retried per <see cref="AvgSearchClientOptions.Retry"/>;
/// refusals end as <see cref="AvgRequestException"/> carrying the server's problem details.
/// </summary>
public class AvgSearchClient
{
    private const string ApiKeyHeader = "X-Api-Key";

    /// <summary>Said of an ingest that failed without a refusal of its content: what state it left and what to do.</summary>
    private const string PartlyIndexed = ". The batch may be partly indexed; send it again to complete it (ingest replaces images by id, so a repeat is safe).";

    /// <summary>Validation errors named in an exception's message; a batch of 1,000 bad images would otherwise make a page.</summary>
    private const int MaxErrorsInMessage = 3;

    /// <summary>One connection pool for every client made without an <see cref="HttpClient"/>; connections recycle so DNS changes are seen.</summary>
    private static readonly Lazy<HttpClient> SharedHttpClient = new(() => new HttpClient(
        new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), AutomaticDecompression = DecompressionMethods.All })
    {
        Timeout = System.Threading.Timeout.InfiniteTimeSpan,
    });

    private static readonly string LibraryUserAgent = string.Create(CultureInfo.InvariantCulture,
        $"avg-client/{typeof(AvgSearchClient).Assembly.GetName().Version?.ToString(3)} ({RuntimeInformation.FrameworkDescription}; {RuntimeInformation.OSDescription})");

    private readonly HttpClient _http;
    private readonly string? _apiKey;
    private readonly string _userAgent;
    private readonly TimeSpan _timeout;
    private readonly int _maxRetries;
    private readonly TimeSpan _retryDelay;
    private readonly TimeSpan _maxRetryDelay;
    private readonly AvgRetryMode _retryMode;

    /// <summary>For mocking: a subclass overrides the methods it needs.</summary>
    protected AvgSearchClient()
    {
        Endpoint = null!;
        _http = null!;
        _userAgent = LibraryUserAgent;
    }

    /// <summary>A client with default options (no API key, 100 s per attempt, 3 retries).</summary>
    /// <param name="endpoint">Base URL of any silo or of the load balancer in front of them, e.g. <c>http://localhost:8080</c>.</param>
    public AvgSearchClient(Uri endpoint) : this(endpoint, new AvgSearchClientOptions()) { }

    /// <summary>A client with the given options, on a connection pool shared by all such clients.</summary>
    public AvgSearchClient(Uri endpoint, AvgSearchClientOptions options) : this(endpoint, SharedHttpClient.Value, options) { }

    /// <summary>
    /// A client on the caller's <see cref="HttpClient"/> (e.g. from <c>IHttpClientFactory</c>). Its handlers run on
    /// every attempt; its own <see cref="HttpClient.Timeout"/> still applies on top of <see cref="AvgSearchClientOptions.Timeout"/>.
    /// </summary>
    public AvgSearchClient(Uri endpoint, HttpClient httpClient, AvgSearchClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(httpClient);
        options ??= new AvgSearchClientOptions();
        if (!endpoint.IsAbsoluteUri || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException($"endpoint '{endpoint}' is not an absolute http or https URL (e.g. http://localhost:8080)", nameof(endpoint));
        if (options.Timeout <= TimeSpan.Zero && options.Timeout != System.Threading.Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(options), options.Timeout, "Timeout must be positive (or Timeout.InfiniteTimeSpan)");
        if (options.Retry.MaxRetries < 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.Retry.MaxRetries, "Retry.MaxRetries must be 0 or more");
        if (options.Retry.Delay < TimeSpan.Zero || options.Retry.MaxDelay < options.Retry.Delay)
            throw new ArgumentOutOfRangeException(nameof(options), options.Retry.Delay, "Retry.Delay must be 0 or more and at most Retry.MaxDelay");

        Endpoint = endpoint.AbsolutePath.EndsWith('/') ? endpoint : new UriBuilder(endpoint) { Path = endpoint.AbsolutePath + "/" }.Uri;
        _http = httpClient;
        _apiKey = options.ApiKey;
        _userAgent = string.IsNullOrWhiteSpace(options.ApplicationId) ? LibraryUserAgent : $"{options.ApplicationId} {LibraryUserAgent}";
        _timeout = options.Timeout;
        _maxRetries = options.Retry.MaxRetries;
        _retryDelay = options.Retry.Delay;
        _maxRetryDelay = options.Retry.MaxDelay;
        _retryMode = options.Retry.Mode;
    }

    /// <summary>The base URL requests go to (always ending in <c>/</c>).</summary>
    public virtual Uri Endpoint { get; }

    /// <summary>Finds the <paramref name="k"/> images that best match a text query.</summary>
    /// <param name="query">The text query (1…1000 characters after trimming).</param>
    /// <param name="k">How many images to return (1…100).</param>
    /// <param name="beam">Beam size b of the constrained beam search (1…100); null for the index's default (<see cref="SearchResults.Beam"/> says which).</param>
    /// <exception cref="AvgRequestException">The server refused the query (e.g. 400 with <see cref="AvgRequestException.Errors"/>) or could not be reached.</exception>
    public virtual Task<SearchResults> SearchAsync(string query, int k = 10, int? beam = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        return SearchAsync(new SearchQuery(query, k, beam), cancellationToken);
    }

    /// <summary>Finds the images that best match a query, optionally pinned to an index version (409 when another is served).</summary>
    public virtual async Task<SearchResults> SearchAsync(SearchQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(query.Text, nameof(query));
        var request = new SearchRequestBody(query.Text, query.K, query.Beam, query.IndexVersion, query.LevelBeams is { } widths ? [.. widths] : null);
        var body = JsonSerializer.SerializeToUtf8Bytes(request, AvgJsonContext.Wire.SearchRequestBody);
        var answer = await SendAsync(HttpMethod.Post, "v1/search", body, acceptedFailure: null, cancellationToken).ConfigureAwait(false);
        return Parse(answer, "POST /v1/search", AvgJsonContext.Wire.SearchResults);
    }

    /// <summary>
    /// Adds (or replaces, by id) up to 1,000 images in one request. Safe to retry: the server upserts by id, and a
    /// failed attempt is retried as a whole per <see cref="AvgSearchClientOptions.Retry"/>. A batch that still fails
    /// with a 5xx or no answer may be partly indexed (each image either indexed or not visible); sending the same
    /// batch again completes it. Callers with more images split them into batches.
    /// </summary>
    /// <exception cref="AvgRequestException">The server refused the batch (e.g. an undecodable image, named in <see cref="AvgRequestException.Errors"/>; nothing indexed), or it failed after all retries (5xx or <see cref="AvgRequestException.Status"/> 0: send it again).</exception>
    public virtual async Task<IndexImagesResult> IndexImagesAsync(IEnumerable<ImageToIndex> images, string? indexVersion = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        var wire = images.Select(i => new IngestImageBody(i.Id, i.Image is { } bytes ? Convert.ToBase64String(bytes.Span) : null, i.Features is { } f ? ToArray(f) : null, i.Uri)).ToList();
        var body = JsonSerializer.SerializeToUtf8Bytes(new IngestRequestBody(wire, indexVersion), AvgJsonContext.Wire.IngestRequestBody);
        Answer answer;
        try
        {
            answer = await SendAsync(HttpMethod.Post, "v1/images", body, acceptedFailure: null, cancellationToken).ConfigureAwait(false);
        }
        catch (AvgRequestException e) when (e.Status is 0 or >= 500)
        {
            // Each attempt sent the whole batch; one that failed inside the cluster may have indexed part of it.
            throw new AvgRequestException(e.Status, e.Message + PartlyIndexed, e.Title, e.Detail, e.ProblemType, e.Errors, e.InnerException);
        }

        return Parse(answer, "POST /v1/images", AvgJsonContext.Wire.IndexImagesResult);
    }

    /// <summary>Removes an image from the index.</summary>
    /// <returns>True when it was removed; false when no image had that id (including a retry after a lost response).</returns>
    public virtual async Task<bool> DeleteImageAsync(string id, CancellationToken cancellationToken = default)
    {
        var answer = await SendAsync(HttpMethod.Delete, ImagePath(id), null, acceptedFailure: HttpStatusCode.NotFound, cancellationToken).ConfigureAwait(false);
        return answer.Status != (int)HttpStatusCode.NotFound;
    }

    /// <summary>An indexed image's vokens, partition and URI; null when no image has that id.</summary>
    public virtual async Task<IndexedImage?> GetImageAsync(string id, CancellationToken cancellationToken = default)
    {
        var path = ImagePath(id);
        var answer = await SendAsync(HttpMethod.Get, path, null, acceptedFailure: HttpStatusCode.NotFound, cancellationToken).ConfigureAwait(false);
        if (answer.Status == (int)HttpStatusCode.NotFound) return null;
        var image = Parse(answer, "GET /" + path, AvgJsonContext.Wire.ImageBody);
        return new IndexedImage(image.Id, image.Vokens, image.Partition, image.Uri);
    }

    /// <summary>Index size, per-shard ingest throughput, query latency and the silos of the cluster.</summary>
    public virtual async Task<IndexStats> GetStatsAsync(CancellationToken cancellationToken = default)
    {
        var answer = await SendAsync(HttpMethod.Get, "v1/stats", null, acceptedFailure: null, cancellationToken).ConfigureAwait(false);
        return Parse(answer, "GET /v1/stats", AvgJsonContext.Wire.IndexStats);
    }

    /// <summary>
    /// Polls <see cref="IsReadyAsync"/> every <paramref name="interval"/> (default 250 ms) until the server is ready.
    /// </summary>
    /// <exception cref="TimeoutException">Not ready within <paramref name="timeout"/>.</exception>
    /// <exception cref="AvgRequestException">The endpoint answered something other than ready / not yet (e.g. 404).</exception>
    public virtual async Task WaitUntilReadyAsync(TimeSpan timeout, TimeSpan? interval = null, CancellationToken cancellationToken = default)
    {
        var pause = interval ?? TimeSpan.FromMilliseconds(250);
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        while (!await IsReadyAsync(cancellationToken).ConfigureAwait(false))
        {
            if (deadline.Elapsed > timeout)
                throw new TimeoutException($"{Endpoint} did not become ready within {(int)Math.Ceiling(timeout.TotalSeconds)} s (GET /health/ready)");
            await Task.Delay(pause, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Whether the server is ready to serve (<c>/health/ready</c> answers 200). One attempt, no retries, so it
    /// suits polling: 503, a refused connection and a timed-out attempt all mean "not yet" (false).
    /// </summary>
    /// <exception cref="AvgRequestException">Any other answer (e.g. 404: the endpoint is not an AVG server).</exception>
    public virtual async Task<bool> IsReadyAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var answer = await SendOnceAsync(HttpMethod.Get, "health/ready", null, cancellationToken).ConfigureAwait(false);
            return answer.Status switch
            {
                (int)HttpStatusCode.OK => true,
                (int)HttpStatusCode.ServiceUnavailable => false,
                _ => throw CreateException(HttpMethod.Get, "health/ready", answer, 1),
            };
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>The raw outcome of one attempt.</summary>
    private readonly record struct Answer(int Status, string? ReasonPhrase, string? MediaType, byte[] Content, TimeSpan? RetryAfter)
    {
        public bool IsSuccess => Status is >= 200 and < 300;
    }

    /// <summary>
    /// Sends with retries. Returns a 2xx answer or one with <paramref name="acceptedFailure"/>; throws
    /// <see cref="AvgRequestException"/> for anything else once retries are spent or not allowed.
    /// </summary>
    private async Task<Answer> SendAsync(HttpMethod method, string path, byte[]? body, HttpStatusCode? acceptedFailure, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            AvgRequestException failure;
            TimeSpan? retryAfter = null;
            try
            {
                var answer = await SendOnceAsync(method, path, body, cancellationToken).ConfigureAwait(false);
                if (answer.IsSuccess || answer.Status == (int?)acceptedFailure) return answer;
                failure = CreateException(method, path, answer, attempt);
                if (!IsRetriable(answer.Status) || attempt > _maxRetries) throw failure;
                retryAfter = answer.RetryAfter;
            }
            catch (HttpRequestException e)
            {
                failure = new AvgRequestException(0, $"cannot reach {Endpoint} ({method} /{path}): {e.Message}{Attempts(attempt)}", innerException: e);
                if (attempt > _maxRetries) throw failure;
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                var limit = _timeout == System.Threading.Timeout.InfiniteTimeSpan ? "the HttpClient's timeout" : FormatSeconds(_timeout);
                failure = new AvgRequestException(0, $"{method} /{path} to {Endpoint} timed out after {limit}{Attempts(attempt)}", innerException: new TimeoutException(e.Message, e));
                if (attempt > _maxRetries) throw failure;
            }
            await Task.Delay(retryAfter ?? Backoff(attempt), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One attempt: the request and the whole response body, both within <see cref="AvgSearchClientOptions.Timeout"/>.</summary>
    private async Task<Answer> SendOnceAsync(HttpMethod method, string path, byte[]? body, CancellationToken cancellationToken)
    {
        using var attemptCancellation = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (_timeout != System.Threading.Timeout.InfiniteTimeSpan) attemptCancellation.CancelAfter(_timeout);
        using var request = new HttpRequestMessage(method, new Uri(Endpoint, path));
        request.Headers.TryAddWithoutValidation("User-Agent", _userAgent);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (_apiKey is not null && path.StartsWith("v1/", StringComparison.Ordinal)) request.Headers.Add(ApiKeyHeader, _apiKey);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        }
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, attemptCancellation.Token).ConfigureAwait(false);
        var content = await response.Content.ReadAsByteArrayAsync(attemptCancellation.Token).ConfigureAwait(false);
        return new Answer((int)response.StatusCode, response.ReasonPhrase, response.Content.Headers.ContentType?.MediaType, content, RetryAfter(response.Headers.RetryAfter));
    }

    private static bool IsRetriable(int status) => status is 408 or 429 or 500 or 502 or 503 or 504;

    private TimeSpan Backoff(int attempt)
    {
        if (_retryMode == AvgRetryMode.Fixed) return _retryDelay;
        var grown = _retryDelay.TotalMilliseconds * Math.Pow(2, attempt - 1) * (0.8 + (0.4 * Random.Shared.NextDouble()));
        return TimeSpan.FromMilliseconds(Math.Min(grown, _maxRetryDelay.TotalMilliseconds));
    }

    private static TimeSpan? RetryAfter(RetryConditionHeaderValue? header) => header switch
    {
        { Delta: { } delta } => delta < TimeSpan.Zero ? TimeSpan.Zero : delta,
        { Date: { } date } => date - DateTimeOffset.UtcNow is var wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero,
        _ => null,
    };

    private static string Attempts(int attempt) => attempt > 1 ? string.Create(CultureInfo.InvariantCulture, $" (gave up after {attempt} attempts)") : "";

    private static string FormatSeconds(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.###} s");

    /// <summary>An error from a refusal, reading the RFC 9457 problem when the body is one.</summary>
    private static AvgRequestException CreateException(HttpMethod method, string path, Answer answer, int attempt)
    {
        ProblemDetails? problem = null;
        if (answer.MediaType is "application/problem+json" or "application/json" && answer.Content.Length > 0)
        {
            try
            {
                problem = JsonSerializer.Deserialize(answer.Content, AvgJsonContext.Wire.ProblemDetails);
            }
            catch (JsonException)
            {
                // Not a problem document after all (e.g. a proxy's error page); report the status alone.
            }
        }
        var errors = problem?.Errors?.ToDictionary(e => e.Key, e => (IReadOnlyList<string>)e.Value, StringComparer.Ordinal);
        var title = problem?.Title ?? answer.ReasonPhrase;
        var message = string.Create(CultureInfo.InvariantCulture, $"{method} /{path} failed with {answer.Status}{(title is null ? "" : $" ({title})")}");
        if (!string.IsNullOrWhiteSpace(problem?.Detail)) message += ": " + problem.Detail;
        if (errors is { Count: > 0 })
        {
            // The message stays one readable line; every error is in Errors.
            var shown = errors.Take(MaxErrorsInMessage).Select(e => $"{e.Key}: {string.Join(" ", e.Value.Select(m => m.TrimEnd('.')))}");
            var more = errors.Count > MaxErrorsInMessage ? string.Create(CultureInfo.InvariantCulture, $" (and {errors.Count - MaxErrorsInMessage} more)") : "";
            message += (problem?.Detail is null ? ": " : "; ") + string.Join("; ", shown) + more;
        }
        message += Attempts(attempt);
        return new AvgRequestException(answer.Status, message, problem?.Title, problem?.Detail, problem?.Type, errors);
    }

    private static T Parse<T>(Answer answer, string what, JsonTypeInfo<T> type)
    {
        try
        {
            return JsonSerializer.Deserialize(answer.Content, type)
                ?? throw new AvgRequestException(answer.Status, $"{what} answered {answer.Status} with an empty body; expected JSON");
        }
        catch (JsonException e)
        {
            throw new AvgRequestException(answer.Status, $"{what} answered {answer.Status} with JSON that does not match the API contract: {e.Message}", innerException: e);
        }
    }

    private static string ImagePath(string id)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        if (id.Contains('/', StringComparison.Ordinal)) throw new ArgumentException($"image id '{id}' contains '/'; ids cannot", nameof(id));
        return "v1/images/" + Uri.EscapeDataString(id);
    }

    private static T[] ToArray<T>(ReadOnlyMemory<T> memory) =>
        MemoryMarshal.TryGetArray(memory, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : memory.ToArray();
}
