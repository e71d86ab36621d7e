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

/// <summary>Adds the AVG grains' services to a silo: model host, partition cache, role placement and silo metadata.</summary>
public static class AvgClusterSiloExtensions
{
    /// <summary>
    /// Registers everything grains need on this silo and declares its capabilities (roles, gpu) in silo metadata.
    /// Clustering and grain storage (provider <see cref="Grains.AvgStorage.Name"/>) are the host's choice.
    /// </summary>
    public static ISiloBuilder AddAvgCluster(this ISiloBuilder silo, AvgSiloOptions options)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(standalone: false);
        silo.Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(options));
        silo.Services.TryAddSingleton<AvgMetrics>();
        silo.Services.TryAddSingleton<PartitionCache>();
        // Redis hosts register theirs first (Avg.Silo); without one, the logs live in grains, in memory.
        silo.Services.TryAddSingleton<IIndexLogStore, GrainIndexLogStore>();
        silo.Services.TryAddSingleton<ModelHost>();
        silo.Services.TryAddSingleton<SearchActivity>();
        silo.Services.TryAddSingleton<IngestFanOut>();
        silo.Services.TryAddSingleton<SearchCancellations>();
        silo.Services.TryAddSingleton<LowPriorityWork>();
        silo.Services.AddHostedService(sp => sp.GetRequiredService<ModelHost>());
        silo.Services.AddHostedService<QueryLoadReporter>();
        silo.Services.AddSiloRolePlacementFilters();
        silo.AddIncomingGrainCallFilter<GrainCallMetrics>();
        // The product's own exceptions (and the Redis client's) keep their type and message across silos, so the
        // HTTP layer answers a storage outage on another silo with 503 as it does a local one.
        silo.Services.Configure<ExceptionSerializationOptions>(exceptions =>
        {
            exceptions.SupportedNamespacePrefixes.Add("Avg");
            exceptions.SupportedNamespacePrefixes.Add("StackExchange.Redis");
        });
        silo.UseSiloMetadata(SiloCapabilities.Metadata(options.RoleList.ToArray(), UsesGpu(options), options.HttpPort));
        return silo;
    }

    /// <summary>Whether the model host will run on CUDA (decides the silo's <c>gpu</c> metadata).</summary>
    public static bool UsesGpu(AvgSiloOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!options.HasModel)
        {
            return false;
        }

        var device = options.Device.Trim().ToLowerInvariant();
        return device.StartsWith("cuda", StringComparison.Ordinal) || (device == "auto" && CudaAvailable());
    }

    // Its own method, so that compiling UsesGpu does not load TorchSharp: a partitions-only silo runs without it.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static bool CudaAvailable() => TorchSharp.torch.cuda.is_available();
}

/// <summary>Every few seconds, tells each index catalog how many queries touched each partition on this silo.</summary>
internal sealed partial class QueryLoadReporter(PartitionCache cache, ModelHost host, IGrainFactory grains, ILogger<QueryLoadReporter> logger) : BackgroundService
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
