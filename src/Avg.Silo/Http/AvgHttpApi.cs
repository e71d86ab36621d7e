using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Avg.Cluster;
using Avg.Cluster.Hosting;
using Avg.Cluster.Model;
using Avg.Cluster.Placement;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using JsonOptions = Microsoft.AspNetCore.Http.Json.JsonOptions;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace Avg.Silo.Http;

/// <summary>The HTTP API of docs/http-api.md on the silo host: search, ingest, images by id, stats, health, OpenAPI.</summary>
public static partial class AvgHttpApi
{
    public const string ApiKeyHeader = "X-Api-Key";

    public static IServiceCollection AddAvgHttpApi(this IServiceCollection services, AvgSiloOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        services.AddProblemDetails();
        services.AddExceptionHandler<AvgExceptionHandler>();
        services.AddOpenApi();
        services.AddSingleton<QueryLatencyWindow>();
        services.AddSingleton<BundleInfoSource>();
        services.AddSingleton<ShardRouter>();
        services.Configure<JsonOptions>(json => json.SerializerOptions.NumberHandling |= JsonNumberHandling.AllowNamedFloatingPointLiterals);
        return services;
    }

    public static WebApplication MapAvgHttpApi(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapGet("/health/live", () => Results.Ok(new { status = "live" })).ExcludeFromDescription();
        app.MapGet("/health/ready", Ready).ExcludeFromDescription();

        var v1 = app.MapGroup("/v1").AddEndpointFilter(CheckApiKey);
        v1.MapPost("/search", Search)
            .Accepts<SearchRequestBody>("application/json")
            .Produces<SearchResponseBody>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status409Conflict);
        v1.MapPost("/images", Ingest)
            .Accepts<IngestRequestBody>("application/json")
            .Produces<IngestResponseBody>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status409Conflict);
        v1.MapGet("/images/{id}", GetImage).Produces<ImageBody>().ProducesProblem(StatusCodes.Status404NotFound);
        v1.MapDelete("/images/{id}", DeleteImage).Produces(StatusCodes.Status204NoContent).ProducesProblem(StatusCodes.Status404NotFound);
        v1.MapGet("/stats", Stats).Produces<StatsResponseBody>();
        return app;
    }

    internal static async ValueTask<object?> CheckApiKey(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var keys = context.HttpContext.RequestServices.GetRequiredService<IOptions<AvgSiloOptions>>().Value.ApiKeyList;
        if (keys.Count > 0)
        {
            var given = context.HttpContext.Request.Headers[ApiKeyHeader].ToString();
            if (given.Length == 0 || !keys.Contains(given, StringComparer.Ordinal))
            {
                return Results.Problem(
                    statusCode: StatusCodes.Status401Unauthorized,
                    title: "API key required",
                    detail: given.Length == 0 ? $"Send one of the configured API keys in the {ApiKeyHeader} header." : $"The {ApiKeyHeader} header does not hold a configured API key.");
            }
        }

        return await next(context).ConfigureAwait(false);
    }

    private static async Task<IResult> Ready(ModelHost host, IServiceProvider services)
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

    private static async Task<IResult> Search(HttpContext http, IGrainFactory grains, BundleInfoSource bundles, QueryLatencyWindow latency)
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

        var result = await SearchWithRetryAsync(grains, request).ConfigureAwait(false);
        var total = clock.Elapsed.TotalMilliseconds;
        latency.RecordSearch(total);
        return Results.Ok(new SearchResponseBody(
            result.Items.Select(i => new SearchHitBody(i.ImageId, i.Score, i.Vokens, i.Uri)).ToArray(),
            result.IndexVersion,
            new SearchTimingBody(total, result.GeneratorMs, result.FanOutCalls)));
    }

    private static async Task<IResult> Ingest(HttpContext http, IGrainFactory grains, BundleInfoSource bundles, ShardRouter router)
    {
        var clock = Stopwatch.StartNew();
        var (body, bodyError) = await ReadAsync<IngestRequestBody>(http).ConfigureAwait(false);
        if (bodyError is not null)
        {
            return bodyError;
        }

        var info = await bundles.GetAsync().ConfigureAwait(false);
        if (VersionConflict(body?.IndexVersion, info) is { } conflict)
        {
            return conflict;
        }

        var (items, errors) = RequestValidation.Ingest(body, info);
        if (items is null)
        {
            return Results.ValidationProblem(errors, title: "The ingest batch is not valid; nothing was indexed");
        }

        var indexed = await router.IngestAsync(grains, items).ConfigureAwait(false);
        return Results.Ok(new IngestResponseBody(
            indexed.Select(i => new IndexedImageBody(i.Id, i.Vokens, i.Partition, [.. i.Fine.Select(b => (int)b)])).ToArray(),
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
        var partition = await grains.GetGrain<IImageDirectoryGrain>(ImageDirectoryBuckets.Of(id), info.IndexVersion).Lookup(id).ConfigureAwait(false);
        var image = partition < 0 ? null : await grains.GetGrain<IVokenTriePartitionGrain>(partition, info.IndexVersion).Find(id).ConfigureAwait(false);
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

    private static async Task<IResult> Stats(IGrainFactory grains, BundleInfoSource bundles, QueryLatencyWindow latency, IOptions<AvgSiloOptions> options, ISiloMetadataCache siloMetadata)
    {
        var info = await bundles.GetAsync().ConfigureAwait(false);
        var catalogTask = grains.GetGrain<IIndexCatalogGrain>(info.IndexVersion).GetSnapshot();
        var shardsTask = Task.WhenAll(Enumerable.Range(0, options.Value.Shards).Select(s => grains.GetGrain<ITokenizationShardGrain>(s).GetStats()));
        var hostsTask = grains.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true);
        var catalog = await catalogTask.ConfigureAwait(false);
        var shards = await shardsTask.ConfigureAwait(false);
        var hosts = await hostsTask.ConfigureAwait(false);
        return Results.Ok(new StatsResponseBody(
            catalog.Images,
            catalog.FirstVokens.Length,
            info.IndexVersion,
            shards.Select(s => new ShardBody(s.Shard, s.Images, s.ImagesPerSecond, s.RecentImagesPerSecond, s.History)).ToArray(),
            catalog.FirstVokens.Select((f, i) => new PartitionLoadBody(f, catalog.ImageCounts[i], catalog.Queries[i])).ToArray(),
            latency.Snapshot(),
            hosts.Select(h =>
            {
                var metadata = siloMetadata.GetSiloMetadata(h.SiloAddress).Metadata;
                var roles = metadata.TryGetValue(SiloCapabilities.RolesKey, out var r) ? r.Split(',', StringSplitOptions.RemoveEmptyEntries) : [];
                return new SiloBody(
                    h.SiloAddress.Endpoint.ToString(),
                    roles,
                    metadata.GetValueOrDefault(SiloCapabilities.ModelKey) == "true",
                    metadata.GetValueOrDefault(SiloCapabilities.GpuKey) == "true",
                    h.Status.ToString());
            }).ToArray()));
    }

    /// <summary>
    /// A query is read-only, so when the silo running its stateless worker has just died it is sent again (Orleans
    /// then places the worker on a live model silo) instead of failing the caller.
    /// </summary>
    private static async Task<SearchResult> SearchWithRetryAsync(IGrainFactory grains, SearchRequest request)
    {
        const int attempts = 3;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await grains.GetGrain<IQueryGrain>(0).Search(request).ConfigureAwait(false);
            }
            catch (Exception e) when (attempt < attempts && e is SiloUnavailableException or OrleansMessageRejectionException)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100 * attempt)).ConfigureAwait(false);
            }
        }
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

    private static async Task<(T? Body, IResult? Error)> ReadAsync<T>(HttpContext http)
        where T : class
    {
        var json = http.RequestServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        try
        {
            var body = await JsonSerializer.DeserializeAsync<T>(http.Request.Body, json, http.RequestAborted).ConfigureAwait(false);
            return (body, null);
        }
        catch (JsonException e)
        {
            var where = e.Path is null ? "" : string.Create(CultureInfo.InvariantCulture, $" at {e.Path}");
            return (null, Results.ValidationProblem(
                new Dictionary<string, string[]> { ["body"] = [$"The body is not valid JSON for this request{where}: {e.Message.Split(" Path:")[0]}"] },
                title: "The request body could not be read"));
        }
    }

    /// <summary>Turns failures into problem+json: user-facing messages, never stack traces.</summary>
    internal sealed partial class AvgExceptionHandler(IProblemDetailsService problems, ILogger<AvgExceptionHandler> logger) : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
        {
            var (status, title) = exception switch
            {
                AvgException => (StatusCodes.Status503ServiceUnavailable, "The cluster cannot serve this request"),
                TimeoutException or SiloUnavailableException or OrleansMessageRejectionException => (StatusCodes.Status503ServiceUnavailable, "The cluster is recovering; retry"),
                _ => (StatusCodes.Status500InternalServerError, "Internal error"),
            };
            Log.RequestFailed(logger, httpContext.Request.Path, exception.GetType().Name, exception.Message);
            httpContext.Response.StatusCode = status;
            return await problems.TryWriteAsync(new ProblemDetailsContext
            {
                HttpContext = httpContext,
                Exception = exception,
                ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = exception.Message },
            }).ConfigureAwait(false);
        }

        private static partial class Log
        {
            [LoggerMessage(30, LogLevel.Warning, "Request {Path} failed: {Type}: {Message}")]
            public static partial void RequestFailed(ILogger logger, string path, string type, string message);
        }
    }
}

/// <summary>Spreads an ingest batch over the tokenization shards, starting at a rotating shard so small batches spread too.</summary>
public sealed class ShardRouter(IOptions<AvgSiloOptions> options)
{
    private int _next = -1;

    public async Task<IndexedImage[]> IngestAsync(IGrainFactory grains, IngestItem[] items)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(items);
        var shards = options.Value.Shards;
        var chunk = (items.Length + shards - 1) / shards;
        var start = (int)((uint)Interlocked.Increment(ref _next) % (uint)shards);
        var calls = items.Chunk(chunk).Select((part, j) => grains.GetGrain<ITokenizationShardGrain>((start + j) % shards).Ingest(part));
        return (await Task.WhenAll(calls).ConfigureAwait(false)).SelectMany(r => r).ToArray();
    }
}
