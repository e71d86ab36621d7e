using Avg.Cluster.Hosting;
using Avg.Cluster.Model;
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
        silo.Services.AddSingleton<ModelHost>();
        silo.Services.AddSingleton<IModelHost>(sp => sp.GetRequiredService<ModelHost>());
        silo.Services.AddHostedService(sp => sp.GetRequiredService<ModelHost>());
        return silo.AddAvgCluster(options, UsesGpu(options));
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
