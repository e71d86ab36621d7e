using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Unicode;
using Avg.Cluster;
using Avg.Cluster.Hosting;
using Avg.Cluster.Model;
using Avg.Cluster.Placement;
using Avg.Cluster.Telemetry;
using Avg.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.IO;
using Microsoft.Net.Http.Headers;
using Orleans.Runtime.MembershipService.SiloMetadata;
using JsonOptions = Microsoft.AspNetCore.Http.Json.JsonOptions;
using Sdk = Avg.Client;

namespace Avg.Silo.Http;

/// <summary>The HTTP API of docs/http-api.md on the silo host: search, ingest, images by id, stats, health, OpenAPI.</summary>
public static partial class AvgHttpApi
{
    public const string ApiKeyHeader = AccessControl.ApiKeyHeader;

    /// <summary>
    /// Request bodies in pooled buffers. Read into a growing <see cref="MemoryStream"/>, a 500-image ingest body (a few
    /// MB) left 8–16 MB of large-object-heap arrays behind it: at 5,000 images/s a full collection about every second,
    /// whose pauses stop the searches too (docs/cluster.md, "Queries during ingest"). The pools keep at most 16 MB of
    /// blocks and 64 MB of large buffers free, so a burst of large bodies does not hold memory for good.
    /// </summary>
    private static readonly RecyclableMemoryStreamManager Bodies = new(new RecyclableMemoryStreamManager.Options
    {
        BlockSize = 128 * 1024,
        LargeBufferMultiple = 1024 * 1024,
        MaximumBufferSize = 256 * 1024 * 1024,
        MaximumSmallPoolFreeBytes = 16 * 1024 * 1024,
        MaximumLargePoolFreeBytes = 64 * 1024 * 1024,
    });

    public static IServiceCollection AddAvgHttpApi(this IServiceCollection services, AvgSiloOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        services.AddProblemDetails();
        services.AddExceptionHandler<AvgExceptionHandler>();
        services.AddAvgAccessControl(options);
        services.AddOpenApi();
        services.AddSingleton<BundleInfoSource>();
        services.AddSingleton<ShardRouter>();
        services.AddSingleton<InFlightRequests>();
        services.Configure<JsonOptions>(json => json.SerializerOptions.NumberHandling |= JsonNumberHandling.AllowNamedFloatingPointLiterals);
        return services;
    }

    public static WebApplication MapAvgHttpApi(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var inFlight = app.Services.GetRequiredService<InFlightRequests>();
        app.Use(inFlight.TrackAsync);
        app.UseExceptionHandler();
        app.UseStatusCodePages(StatusProblem);
        app.UseAvgAccessControl();
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapGet("/health/live", () => Results.Ok(new { status = "live" })).ExcludeFromDescription();
        app.MapGet("/health/ready", Ready).ExcludeFromDescription();

        var v1 = app.MapGroup("/v1");
        v1.MapPost("/search", Search)
            .Accepts<SearchRequestBody>("application/json")
            .Produces<Sdk.SearchResults>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status409Conflict);
        v1.MapPost("/images", Ingest)
            .Accepts<IngestRequestBody>("application/json")
            .Produces<Sdk.IndexImagesResult>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status409Conflict);
        v1.MapGet("/images/{id}", GetImage).Produces<ImageBody>().ProducesProblem(StatusCodes.Status404NotFound);
        v1.MapDelete("/images/{id}", DeleteImage).Produces(StatusCodes.Status204NoContent).ProducesProblem(StatusCodes.Status404NotFound);
        v1.MapGet("/stats", Stats).Produces<Sdk.IndexStats>();
        return app;
    }

    /// <summary>
    /// The body of a bare status the framework set (no route 404, 405 wrong method, 415 from the accepts check): always
    /// problem+json, whatever the Accept header, saying what to do.
    /// </summary>
    private static async Task StatusProblem(StatusCodeContext context)
    {
        var http = context.HttpContext;
        var status = http.Response.StatusCode;
        var (title, detail) = status switch
        {
            StatusCodes.Status404NotFound => ("Not found", $"No endpoint or file at {http.Request.Path}; docs/http-api.md lists the endpoints."),
            StatusCodes.Status405MethodNotAllowed => ("Method not allowed", $"{http.Request.Method} is not allowed on {http.Request.Path}; allowed: {http.Response.Headers.Allow}."),
            StatusCodes.Status415UnsupportedMediaType => ("Unsupported media type", UnsupportedContentType(http.Request.ContentType)),
            _ => (ReasonPhrases.GetReasonPhrase(status), null),
        };
        await Results.Problem(statusCode: status, title: title, detail: detail).ExecuteAsync(http).ConfigureAwait(false);
    }

    private static string UnsupportedContentType(string? given) =>
        given is null
            ? "The request has no Content-Type; send the JSON body with Content-Type: application/json."
            : $"Content-Type '{given}' is not accepted; send the body as UTF-8 JSON with Content-Type: application/json.";

    private static async Task<IResult> Ready(IModelHost host, IServiceProvider services)
    {
        var status = services.GetRequiredService<ISiloStatusOracle>().CurrentStatus;
        if (status != SiloStatus.Active)
        {
            return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Not ready", detail: $"The silo is {status}, not yet active in the cluster.");
        }

        if (host.Enabled && !host.IsReady)
        {
            var detail = host.Ready.IsFaulted ? host.Ready.Exception!.InnerException!.Message : "The model host is still loading the bundle.";
            return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Not ready", detail: detail);
        }

        await Task.CompletedTask.ConfigureAwait(false);
        return Results.Ok(new { status = "ready" });
    }

    private static async Task<IResult> Search(HttpContext http, IGrainFactory grains, BundleInfoSource bundles, IOptions<AvgSiloOptions> options)
    {
        var clock = Stopwatch.StartNew();
        var (body, bodyError) = await ReadAsync<SearchRequestBody>(http).ConfigureAwait(false);
        if (bodyError is not null)
        {
            return bodyError;
        }

        var (request, errors) = RequestValidation.Search(body);
        if (request is null)
        {
            return Results.ValidationProblem(errors, title: "The search request is not valid");
        }

        var info = await bundles.GetAsync().ConfigureAwait(false);
        if (VersionConflict(body!.IndexVersion, info) is { } conflict)
        {
            return conflict;
        }

        if (RequestValidation.LevelBeamsFor(request, info) is { } levelErrors)
        {
            return Results.ValidationProblem(levelErrors, title: "The search request is not valid");
        }

        SearchResult result;
        using (var client = ClientCloseDetection.Watch(http))
        {
            try
            {
                result = await SearchWithDeadlineAsync(grains, request, options.Value.QueryTimeoutMs, client.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (client.Token.IsCancellationRequested)
            {
                return ClientGone(http);
            }
        }

        // The latency metrics are recorded at the grain boundary (Telemetry/GrainCallMetrics); this is the answer's own timing.
        var total = clock.Elapsed.TotalMilliseconds;
        return Results.Ok(new Sdk.SearchResults(
            result.Items.Select(i => new Sdk.SearchResult(i.ImageId, i.Score, i.Vokens, i.Uri)).ToArray(),
            result.IndexVersion,
            new Sdk.SearchTiming(total, result.GeneratorMs, result.GrainCalls, result.CatalogMs, result.WaitMs),
            result.Partial,
            result.MissingPartitions,
            result.StalePartitions,
            result.StaleCatalog,
            result.Beam > 0 ? result.Beam : null));
    }

    private const string NothingIndexed = "The ingest batch is not valid; nothing was indexed";

    private static async Task<IResult> Ingest(HttpContext http, IGrainFactory grains, BundleInfoSource bundles, ShardRouter router, LowPriorityWork lowPriority)
    {
        var clock = Stopwatch.StartNew();
        var (body, bodyError) = await ReadAsync<IngestRequestBody>(http, lowPriority).ConfigureAwait(false);
        if (bodyError is not null)
        {
            return bodyError;
        }

        var info = await bundles.GetAsync().ConfigureAwait(false);
        if (VersionConflict(body?.IndexVersion, info) is { } conflict)
        {
            return conflict;
        }

        // Checking every value is linear in the batch: at ingest priority too.
        var (items, errors) = await lowPriority.RunAsync(() => RequestValidation.Ingest(body, info)).ConfigureAwait(false);
        if (items is null)
        {
            return Results.ValidationProblem(errors, title: NothingIndexed);
        }

        IndexedImage[] indexed;
        using (var client = ClientCloseDetection.Watch(http))
        {
            try
            {
                indexed = await router.IngestAsync(grains, items, client.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (client.Token.IsCancellationRequested)
            {
                return ClientGone(http);
            }
            catch (BatchRefusedException refused)
            {
                // A shard refused its part (an image file that does not decode): nothing of the batch was written.
                return Results.ValidationProblem(new Dictionary<string, string[]>(refused.Errors), title: NothingIndexed);
            }
        }

        return Results.Ok(new Sdk.IndexImagesResult(
            indexed.Select(i => new Sdk.IndexedImage(i.Id, i.Vokens, i.Partition, Fine: [.. i.Fine.Select(b => (int)b)])).ToArray(),
            info.IndexVersion,
            clock.Elapsed.TotalMilliseconds));
    }

    private static async Task<IResult> GetImage(string id, IGrainFactory grains, BundleInfoSource bundles)
    {
        if (RequestValidation.CheckId(id) is { } problem)
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { ["id"] = [problem] });
        }

        var info = await bundles.GetAsync().ConfigureAwait(false);
        var (_, image) = await ImageLookup.FindAsync(grains, info.IndexVersion, id).ConfigureAwait(false);
        return image is null
            ? NotFound(id)
            : Results.Ok(new ImageBody(image.Id, image.Vokens, image.Partition, image.Uri));
    }

    private static async Task<IResult> DeleteImage(string id, IGrainFactory grains, BundleInfoSource bundles)
    {
        if (RequestValidation.CheckId(id) is { } problem)
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { ["id"] = [problem] });
        }

        var info = await bundles.GetAsync().ConfigureAwait(false);
        var partition = await grains.GetGrain<IImageDirectoryGrain>(ImageDirectoryBuckets.Of(id), info.IndexVersion).Remove(id).ConfigureAwait(false);
        if (partition < 0)
        {
            return NotFound(id);
        }

        await grains.GetGrain<IVokenTriePartitionGrain>(partition, info.IndexVersion).Remove([id]).ConfigureAwait(false);
        return Results.NoContent();
    }

    private static async Task<IResult> Stats(IGrainFactory grains, BundleInfoSource bundles, AvgMetrics metrics, IOptions<AvgSiloOptions> options, ISiloMetadataCache siloMetadata, ISiloStatusOracle membership)
    {
        var info = await bundles.GetAsync().ConfigureAwait(false);
        var catalogTask = grains.GetGrain<IIndexCatalogGrain>(info.IndexVersion).GetSnapshot();
        var shardsTask = Task.WhenAll(Enumerable.Range(0, options.Value.Shards).Select(s => grains.GetGrain<ITokenizationShardGrain>(s).GetStats()));
        var catalog = await catalogTask.ConfigureAwait(false);
        var shards = await shardsTask.ConfigureAwait(false);
        // This silo's view of the membership, not the table in Redis: stats answer while Redis is away.
        var hosts = membership.GetApproximateSiloStatuses(onlyActive: true).OrderBy(h => h.Key.ToString(), StringComparer.Ordinal).ToArray();
        var window = metrics.QueryWindow.Snapshot();
        return Results.Ok(new Sdk.IndexStats(
            catalog.Images,
            catalog.FirstVokens.Length,
            info.IndexVersion,
            shards.Select(s => new Sdk.ShardStats(s.Shard, s.Images, s.ImagesPerSecond, s.RecentImagesPerSecond, s.History)).ToArray(),
            catalog.FirstVokens.Select((f, i) => new Sdk.PartitionLoad(f, catalog.ImageCounts[i], catalog.Queries[i])).ToArray(),
            new Sdk.QueryStats(window.Count, window.P50Ms, window.P99Ms, window.QueriesPerSecond),
            hosts.Select(h =>
            {
                var metadata = siloMetadata.GetSiloMetadata(h.Key).Metadata;
                var roles = metadata.TryGetValue(SiloCapabilities.RolesKey, out var r) ? r.Split(',', StringSplitOptions.RemoveEmptyEntries) : [];
                return new Sdk.SiloInfo(
                    h.Key.Endpoint.ToString(),
                    roles,
                    metadata.GetValueOrDefault(SiloCapabilities.ModelKey) == "true",
                    metadata.GetValueOrDefault(SiloCapabilities.GpuKey) == "true",
                    h.Value.ToString());
            }).ToArray()));
    }

    /// <summary>
    /// A query is read-only, so when the silo running its stateless worker has just died it is sent again (Orleans
    /// then places the worker on a live model silo) instead of failing the caller. The search answers within the query
    /// deadline plus <see cref="AvgSiloOptions.QueryDeadlineGraceMs"/> or fails with a <see cref="TimeoutException"/>
    /// (503); a client that goes away cancels it on the silo that runs it.
    /// </summary>
    private static async Task<SearchResult> SearchWithDeadlineAsync(IGrainFactory grains, SearchRequest request, int queryTimeoutMs, CancellationToken aborted)
    {
        const int attempts = 3;
        var limit = TimeSpan.FromMilliseconds(queryTimeoutMs + AvgSiloOptions.QueryDeadlineGraceMs);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        deadline.CancelAfter(limit);
        request = new SearchRequest { Query = request.Query, K = request.K, Beam = request.Beam, LevelBeams = request.LevelBeams, RequestId = Guid.NewGuid() };
        var worker = grains.GetGrain<IQueryGrain>(0);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await worker.Search(request, deadline.Token).WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (attempt < attempts && e is SiloUnavailableException or OrleansMessageRejectionException)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100 * attempt), deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                // The call's token reaches one activation of the stateless worker, maybe not the one running the search:
                // the silo's own registry stops it whichever activation takes this.
                worker.Cancel(request.RequestId).Ignore();
                if (aborted.IsCancellationRequested)
                {
                    throw;
                }

                throw new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"The search did not answer within {limit.TotalMilliseconds:F0} ms (Avg__QueryTimeoutMs {queryTimeoutMs} + {AvgSiloOptions.QueryDeadlineGraceMs}); the model silo running it is overloaded or unreachable. Retry."));
            }
        }
    }

    /// <summary>The client closed the connection (its work on the silo was cancelled with it): nobody to answer.</summary>
    private static IResult ClientGone(HttpContext http)
    {
        http.Abort();
        return Results.Empty;
    }

    private static IResult? VersionConflict(string? requested, BundleInfo info) =>
        requested is null || string.Equals(requested, info.IndexVersion, StringComparison.Ordinal)
            ? null
            : Results.Problem(
                statusCode: StatusCodes.Status409Conflict,
                title: "Unknown index version",
                detail: $"Index version '{requested}' is not served here; this cluster serves '{info.IndexVersion}'. Omit indexVersion or use the served one.");

    private static IResult NotFound(string id) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Image not found", detail: $"No image with id '{id}' is indexed.");

    /// <summary>
    /// Reads and parses a JSON body; with <paramref name="parser"/> (ingest) the parse runs at ingest priority, off the
    /// thread pool that queries share.
    /// </summary>
    private static async Task<(T? Body, IResult? Error)> ReadAsync<T>(HttpContext http, LowPriorityWork? parser = null)
        where T : class
    {
        if (ContentTypeProblem(http.Request) is { } unsupported)
        {
            return (null, Results.Problem(statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported media type", detail: unsupported));
        }

        var limit = http.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
        if (http.Request.ContentLength > limit)
        {
            return (null, TooLarge(http.Request.ContentLength.Value, limit.Value));
        }

        var json = http.RequestServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        // A body of announced length (the SDK's, the CLI's) goes into one pooled buffer of that length. A chunked body
        // is read as before: read faster, one just over the limit got its 413 while the client was still sending, and
        // the client then saw the connection close instead of the answer.
        using var buffer = http.Request.ContentLength is { } length
            ? Bodies.GetStream(Guid.Empty, "request body", length, asContiguousBuffer: true)
            : new MemoryStream();
        await http.Request.Body.CopyToAsync(buffer, http.RequestAborted).ConfigureAwait(false);
        return parser is null ? Parse<T>(buffer, json) : await parser.RunAsync(() => Parse<T>(buffer, json)).ConfigureAwait(false);
    }

    private static (T? Body, IResult? Error) Parse<T>(MemoryStream buffer, JsonSerializerOptions json)
        where T : class
    {
        var bytes = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);

        // The serializer checks UTF-8 only in the values it reads; a body must be UTF-8 throughout (RFC 8259 §8.1).
        if (!Utf8.IsValid(bytes))
        {
            return (null, Results.ValidationProblem(
                new Dictionary<string, string[]> { ["body"] = [string.Create(CultureInfo.InvariantCulture, $"The body is not valid UTF-8 (first bad byte at offset {InvalidUtf8Offset(bytes)}); send JSON in UTF-8.")] },
                title: "The request body could not be read"));
        }

        try
        {
            return (JsonSerializer.Deserialize<T>(bytes, json), null);
        }
        catch (JsonException e)
        {
            var where = e.Path is null ? "" : string.Create(CultureInfo.InvariantCulture, $" at {e.Path}");
            return (null, Results.ValidationProblem(
                new Dictionary<string, string[]> { ["body"] = [$"The body is not valid JSON for this request{where}: {e.Message.Split(" Path:")[0]}"] },
                title: "The request body could not be read"));
        }
    }

    private static int InvalidUtf8Offset(ReadOnlySpan<byte> bytes)
    {
        Utf8.ToUtf16(bytes, new char[bytes.Length], out var read, out _, replaceInvalidSequences: false);
        return read;
    }

    /// <summary>Null for a JSON body in UTF-8 (the only encoding RFC 8259 allows between systems), else what to send instead.</summary>
    private static string? ContentTypeProblem(HttpRequest request)
    {
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var type))
        {
            return UnsupportedContentType(request.ContentType);
        }

        var isJson = type.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || (type.MediaType.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && type.MediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
        if (!isJson)
        {
            return UnsupportedContentType(request.ContentType);
        }

        return type.Charset.HasValue && !type.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase) && !type.Charset.Equals("\"utf-8\"", StringComparison.OrdinalIgnoreCase)
            ? $"Content-Type charset '{type.Charset}' is not accepted; send the JSON body in UTF-8 (charset=utf-8 or none)."
            : null;
    }

    private static IResult TooLarge(long length, long limit) =>
        Results.Problem(
            statusCode: StatusCodes.Status413PayloadTooLarge,
            title: "Request body too large",
            detail: string.Create(CultureInfo.InvariantCulture, $"The body has {length} bytes; at most {limit} bytes are accepted (Avg__MaxRequestBytes). Split the batch."));

    /// <summary>Turns failures into problem+json: user-facing messages, never stack traces.</summary>
    internal sealed partial class AvgExceptionHandler(IProblemDetailsService problems, ILogger<AvgExceptionHandler> logger) : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
        {
            if (exception is OperationCanceledException && httpContext.RequestAborted.IsCancellationRequested)
            {
                // The client went away (its work on the silo was cancelled with it): nobody to answer.
                Log.ClientAborted(logger, httpContext.Request.Path);
                httpContext.Response.StatusCode = StatusCodes.Status499ClientClosedRequest;
                return true;
            }

            if (exception is BadHttpRequestException bad)
            {
                // Kestrel's refusals while the body is read (too large, cut short): the client's fault, said as such.
                var limit = httpContext.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
                var result = bad.StatusCode == StatusCodes.Status413PayloadTooLarge && limit is { } max
                    ? TooLarge(httpContext.Request.ContentLength ?? max + 1, max)
                    : Results.Problem(statusCode: bad.StatusCode, title: "The request could not be read", detail: bad.Message);
                await result.ExecuteAsync(httpContext).ConfigureAwait(false);
                return true;
            }

            var failure = ServiceFailure.Classify(exception);
            Log.RequestFailed(logger, httpContext.Request.Path, exception.GetType().Name, exception.Message);
            httpContext.Response.StatusCode = failure.Status;
            if (failure.RetryAfterSeconds is { } seconds)
            {
                httpContext.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            }

            var written = await problems.TryWriteAsync(new ProblemDetailsContext
            {
                HttpContext = httpContext,
                Exception = exception,
                ProblemDetails = new ProblemDetails { Status = failure.Status, Title = failure.Title, Detail = failure.Detail },
            }).ConfigureAwait(false);
            if (!written)
            {
                await Results.Problem(statusCode: failure.Status, title: failure.Title, detail: failure.Detail).ExecuteAsync(httpContext).ConfigureAwait(false);
            }

            return true;
        }

        private static partial class Log
        {
            [LoggerMessage(30, LogLevel.Warning, "Request {Path} failed: {Type}: {Message}")]
            public static partial void RequestFailed(ILogger logger, string path, string type, string message);

            [LoggerMessage(31, LogLevel.Debug, "Request {Path} was cancelled by its client; its work on the silo stopped")]
            public static partial void ClientAborted(ILogger logger, string path);
        }
    }
}
