using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Threading.RateLimiting;
using Avg.Cluster.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Avg.Silo.Http;

/// <summary>
/// API keys and rate limits in front of every route (docs/http-api.md, "Access control"): <c>/health/*</c> is open;
/// <c>/v1/*</c> needs a read key, ingest and delete a write key; with <c>Avg__ProtectPages</c> the pages,
/// <c>/images/*</c>, <c>/dashboard</c>, <c>/metrics</c> and <c>/openapi</c> need a read key. Keys come in
/// <c>X-Api-Key</c>, <c>Authorization: Bearer</c>, or <c>Authorization: Basic</c> (any user name, the key as password,
/// which is how a browser sends it for the pages). Each caller then gets its own fixed-window rate limit.
/// </summary>
public static class AccessControl
{
    public const string ApiKeyHeader = "X-Api-Key";

    private const string CallerItem = "avg.caller";

    public static IServiceCollection AddAvgAccessControl(this IServiceCollection services, AvgSiloOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        services.AddSingleton(new ApiKeyRing(options));
        services.AddRateLimiter(limiter =>
        {
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http =>
                options.RateLimitRequests == 0 || IsHealth(http.Request.Path)
                    ? RateLimitPartition.GetNoLimiter("")
                    : RateLimitPartition.GetFixedWindowLimiter(Caller(http), _ => new FixedWindowRateLimiterOptions
                    {
                        PermitLimit = options.RateLimitRequests,
                        Window = TimeSpan.FromSeconds(options.RateLimitWindowSeconds),
                        QueueLimit = 0,
                    }));
            limiter.OnRejected = async (context, _) =>
            {
                var seconds = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : options.RateLimitWindowSeconds;
                context.HttpContext.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                await Results.Problem(
                    statusCode: StatusCodes.Status429TooManyRequests,
                    title: "Too many requests",
                    detail: string.Create(CultureInfo.InvariantCulture, $"This caller may make {options.RateLimitRequests} requests per {options.RateLimitWindowSeconds} s (Avg__RateLimitRequests); retry after {seconds} s.")).ExecuteAsync(context.HttpContext).ConfigureAwait(false);
            };
        });
        return services;
    }

    /// <summary>Key check, then rate limit; before every other middleware that answers requests (static files, endpoints).</summary>
    public static WebApplication UseAvgAccessControl(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Use(CheckKey);
        app.UseRateLimiter();
        return app;
    }

    /// <summary>What a request needs: write for changes under <c>/v1/images</c>, read for the rest of <c>/v1</c>, and for everything but health when pages are protected.</summary>
    public static ApiAccess Required(HttpRequest request, bool protectPages)
    {
        ArgumentNullException.ThrowIfNull(request);
        var path = request.Path;
        if (IsHealth(path))
        {
            return ApiAccess.None;
        }

        if (path.StartsWithSegments("/v1/images", StringComparison.OrdinalIgnoreCase) && !(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method)))
        {
            return ApiAccess.Write;
        }

        return path.StartsWithSegments("/v1", StringComparison.OrdinalIgnoreCase) || protectPages ? ApiAccess.Read : ApiAccess.None;
    }

    private static async Task CheckKey(HttpContext http, RequestDelegate next)
    {
        var keys = http.RequestServices.GetRequiredService<ApiKeyRing>();
        var options = http.RequestServices.GetRequiredService<IOptions<AvgSiloOptions>>().Value;
        var required = keys.Enabled ? Required(http.Request, options.ProtectPages) : ApiAccess.None;
        if (required == ApiAccess.None)
        {
            await next(http).ConfigureAwait(false);
            return;
        }

        var given = PresentedKey(http.Request);
        var (access, caller) = given is null ? (ApiAccess.None, "") : keys.Find(given);
        if (access == ApiAccess.None)
        {
            if (!http.Request.Path.StartsWithSegments("/v1", StringComparison.OrdinalIgnoreCase))
            {
                // Lets a browser ask for the key (as the password) to show the pages.
                http.Response.Headers.WWWAuthenticate = "Basic realm=\"avg-cluster\", charset=\"UTF-8\"";
            }

            await Results.Problem(
                statusCode: StatusCodes.Status401Unauthorized,
                title: "API key required",
                detail: given is null
                    ? $"Send an API key in the {ApiKeyHeader} header (or as a Bearer token)."
                    : $"The {ApiKeyHeader} header does not hold a configured API key.").ExecuteAsync(http).ConfigureAwait(false);
            return;
        }

        if (access < required)
        {
            await Results.Problem(
                statusCode: StatusCodes.Status403Forbidden,
                title: "Key may not write",
                detail: $"This API key may search and read but not ingest or delete; use a write key ({ApiKeyHeader}).").ExecuteAsync(http).ConfigureAwait(false);
            return;
        }

        http.Items[CallerItem] = caller;
        await next(http).ConfigureAwait(false);
    }

    /// <summary>The key in <c>X-Api-Key</c>, or in <c>Authorization</c> as a Bearer token or Basic password; null when none is sent.</summary>
    private static string? PresentedKey(HttpRequest request)
    {
        var header = request.Headers[ApiKeyHeader].ToString();
        if (header.Length > 0)
        {
            return header;
        }

        if (!AuthenticationHeaderValue.TryParse(request.Headers.Authorization.ToString(), out var authorization) || string.IsNullOrEmpty(authorization.Parameter))
        {
            return null;
        }

        if (authorization.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
        {
            return authorization.Parameter;
        }

        if (authorization.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
        {
            var bytes = new byte[authorization.Parameter.Length];
            if (Convert.TryFromBase64String(authorization.Parameter, bytes, out var written))
            {
                var pair = Encoding.UTF8.GetString(bytes, 0, written);
                var colon = pair.IndexOf(':', StringComparison.Ordinal);
                return colon >= 0 && colon < pair.Length - 1 ? pair[(colon + 1)..] : null;
            }
        }

        return null;
    }

    /// <summary>The rate-limit partition: the caller's key id, or its address when no key was needed.</summary>
    private static string Caller(HttpContext http) =>
        http.Items[CallerItem] as string ?? "ip:" + http.Connection.RemoteIpAddress;

    private static bool IsHealth(PathString path) => path.StartsWithSegments("/health", StringComparison.OrdinalIgnoreCase);
}
