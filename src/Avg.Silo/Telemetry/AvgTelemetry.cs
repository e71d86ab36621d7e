using Avg.Cluster.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;

namespace Avg.Silo.Telemetry;

/// <summary>OpenTelemetry metrics of the silo host: the product's meter and Orleans' own, exported on <c>/metrics</c> in Prometheus text (docs/metrics.md).</summary>
public static class AvgTelemetry
{
    /// <summary>The meter Orleans' runtime instruments (grain calls, activations, messaging) are created on.</summary>
    public const string OrleansMeterName = "Microsoft.Orleans";

    public const string MetricsPath = "/metrics";

    public static IServiceCollection AddAvgTelemetry(this IServiceCollection services)
    {
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(AvgMetrics.MeterName, OrleansMeterName)
            .AddView(AvgMetrics.QueryDuration, new ExplicitBucketHistogramConfiguration { Boundaries = [.. AvgMetrics.QueryDurationBuckets] })
            .AddView(AvgMetrics.ModelBatchSize, new ExplicitBucketHistogramConfiguration { Boundaries = [.. AvgMetrics.BatchSizeBuckets] })
            .AddPrometheusExporter());
        return services;
    }

    public static WebApplication MapAvgTelemetry(this WebApplication app)
    {
        app.MapPrometheusScrapingEndpoint(MetricsPath);
        return app;
    }
}
