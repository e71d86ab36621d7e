using Avg.Cluster.Hosting;
using Avg.Cluster.Model;
using Avg.Cluster.Telemetry;
using Microsoft.Extensions.DependencyInjection;

namespace Avg.Cluster.Inference;

/// <summary>Sets up a silo with the model role: its <see cref="ModelHost"/>, then everything <see cref="AvgClusterSiloExtensions.AddAvgCluster"/> adds.</summary>
public static class AvgModelSiloExtensions
{
    /// <summary>
    /// Registers the model host (a singleton and hosted service) as the silo's <see cref="IModelHost"/> and adds the AVG
    /// grains' services, declaring in silo metadata whether the model runs on a GPU. For silos with the model role;
    /// a partitions-only silo calls <see cref="AvgClusterSiloExtensions.AddAvgCluster"/> alone and never loads Torch.
    /// </summary>
    public static ISiloBuilder AddAvgModelSilo(this ISiloBuilder silo, AvgSiloOptions options)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(options);
        silo.Services.AddSingleton(services => Metered(ActivatorUtilities.CreateInstance<ModelHost>(services), services.GetRequiredService<AvgMetrics>()));
        silo.Services.AddSingleton<IModelHost>(sp => sp.GetRequiredService<ModelHost>());
        silo.Services.AddHostedService(sp => sp.GetRequiredService<ModelHost>());
        return silo.AddAvgCluster(options, UsesGpu(options));
    }

    /// <summary>
    /// The meter listens to the host from outside (docs/metrics.md): model batch sizes and beam steps from each forward
    /// pass, and, once the bundle is loaded, TorchSharp's count of tensors created less disposed over all threads (what
    /// a leak would raise).
    /// </summary>
    internal static ModelHost Metered(ModelHost host, AvgMetrics metrics)
    {
        host.BatchRan += batch =>
        {
            metrics.RecordModelBatch(batch.Work == ModelWork.Search ? AvgMetrics.QueryBatch : AvgMetrics.IngestBatch, batch.Requests);
            if (batch.Work == ModelWork.Search)
            {
                metrics.RecordBeamSteps(batch.BeamSteps);
            }
        };
        if (host.Enabled)
        {
            host.Ready.ContinueWith(
                _ => metrics.ObserveLiveTensorsWith(static () => TorchSharp.torch.Tensor.TotalCount),
                CancellationToken.None,
                TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }

        return host;
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
        return device.StartsWith("cuda", StringComparison.Ordinal) || (device == "auto" && TorchSharp.torch.cuda.is_available());
    }
}
