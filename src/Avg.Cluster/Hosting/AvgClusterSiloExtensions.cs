using Avg.Cluster.Model;
using Avg.Cluster.Placement;
using Avg.Cluster.Storage;
using Avg.Cluster.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Serialization;

namespace Avg.Cluster.Hosting;

/// <summary>Adds the AVG grains' services to a silo: partition cache, storage, role placement and silo metadata.</summary>
public static class AvgClusterSiloExtensions
{
    /// <summary>
    /// Registers everything grains need on this silo and declares its capabilities (roles, <paramref name="gpu"/>) in
    /// silo metadata. Clustering and grain storage (provider <see cref="Grains.AvgStorage.Name"/>) are the host's choice.
    /// A silo with the model role registers its model host first (<c>AddAvgModelSilo</c> in Avg.Cluster.Inference
    /// does both); a silo without it gets <see cref="AbsentModelHost"/> and needs no Torch.
    /// </summary>
    public static ISiloBuilder AddAvgCluster(this ISiloBuilder silo, AvgSiloOptions options, bool gpu = false)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(standalone: false);
        if (options.HasModel && !silo.Services.Any(s => s.ServiceType == typeof(IModelHost)))
        {
            throw new InvalidOperationException(
                $"This silo has the model role (roles '{options.Roles}') but no model host: set it up with AddAvgModelSilo (Avg.Cluster.Inference), not AddAvgCluster alone.");
        }

        silo.Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(options));
        silo.Services.TryAddSingleton<AvgMetrics>();
        silo.Services.TryAddSingleton(services =>
        {
            // Telemetry from outside: the meter reads the cache's counts when it is collected.
            var cache = ActivatorUtilities.CreateInstance<PartitionCache>(services);
            services.GetRequiredService<AvgMetrics>().ObservePartitionCache(cache);
            return cache;
        });
        // Redis hosts register theirs first (Avg.Silo); without one, the logs live in grains, in memory.
        silo.Services.TryAddSingleton<IIndexLogStore, GrainIndexLogStore>();
        silo.Services.TryAddSingleton<IModelHost, AbsentModelHost>();
        silo.Services.TryAddSingleton<SearchActivity>();
        silo.Services.TryAddSingleton<IngestFanOut>();
        silo.Services.TryAddSingleton<SearchCancellations>();
        silo.Services.TryAddSingleton<LowPriorityWork>();
        silo.Services.AddHostedService<QueryLoadReporter>();
        silo.Services.AddSiloRolePlacementFilters();
        silo.AddIncomingGrainCallFilter<GrainCallMetrics>();
        silo.Services.AddSingleton<IConfigureGrainContextProvider, PartitionActivationMetrics>();
        // The product's own exceptions (and the Redis client's) keep their type and message across silos, so the
        // HTTP layer answers a storage outage on another silo with 503 as it does a local one.
        silo.Services.Configure<ExceptionSerializationOptions>(exceptions =>
        {
            exceptions.SupportedNamespacePrefixes.Add("Avg");
            exceptions.SupportedNamespacePrefixes.Add("StackExchange.Redis");
        });
        silo.UseSiloMetadata(SiloCapabilities.Metadata(options.RoleList.ToArray(), gpu, options.HttpPort));
        return silo;
    }
}

/// <summary>Every few seconds, tells each index catalog how many queries touched each partition on this silo.</summary>
internal sealed partial class QueryLoadReporter(PartitionCache cache, IModelHost host, IGrainFactory grains, ILogger<QueryLoadReporter> logger) : BackgroundService
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!host.Enabled)
        {
            return;
        }

        using var timer = new PeriodicTimer(Period);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            if (!host.IsReady)
            {
                continue;
            }

            var (vokens, queries) = cache.TakeQueryCounts();
            if (vokens.Length == 0)
            {
                continue;
            }

            try
            {
                var version = (await host.Ready.ConfigureAwait(false)).IndexVersion;
                await grains.GetGrain<IIndexCatalogGrain>(version).ReportQueries(vokens, queries).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Log.ReportFailed(logger, e.Message);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(20, LogLevel.Debug, "Partition query counts not reported this time: {Reason}")]
        public static partial void ReportFailed(ILogger logger, string reason);
    }
}
