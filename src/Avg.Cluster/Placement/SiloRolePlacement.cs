using Microsoft.Extensions.DependencyInjection;
using Orleans.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;

namespace Avg.Cluster.Placement;

/// <summary>Places a grain only on silos that declare the model role (<c>model=true</c> in silo metadata): query and tokenization grains.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class ModelSiloPlacementFilterAttribute() : PlacementFilterAttribute(new ModelSiloPlacementFilterStrategy());

/// <summary>Places a grain only on silos that declare the partitions role (<c>partitions=true</c>): partitions, catalog, directory.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class PartitionSiloPlacementFilterAttribute() : PlacementFilterAttribute(new PartitionSiloPlacementFilterStrategy());

/// <summary>
/// A placement filter keeping silos whose metadata has <c>{Role}=true</c>. One sealed type per role, never a role
/// carried in grain properties: Orleans keeps one strategy instance per type and re-initialises it per grain type,
/// so a shared type would end up with whichever grain's role was read last.
/// </summary>
public abstract class SiloRolePlacementFilterStrategy(string role) : PlacementFilterStrategy(order: 0)
{
    public string Role { get; } = role;
}

public sealed class ModelSiloPlacementFilterStrategy() : SiloRolePlacementFilterStrategy(SiloCapabilities.ModelKey);

public sealed class PartitionSiloPlacementFilterStrategy() : SiloRolePlacementFilterStrategy(SiloCapabilities.PartitionsKey);

/// <summary>Keeps the silos whose metadata has <c>{role}=true</c>.</summary>
internal sealed class SiloRolePlacementFilterDirector(ISiloMetadataCache metadata) : IPlacementFilterDirector
{
    public IEnumerable<SiloAddress> Filter(PlacementFilterStrategy filterStrategy, PlacementTarget target, IEnumerable<SiloAddress> silos)
    {
        var role = ((SiloRolePlacementFilterStrategy)filterStrategy).Role;
        return silos.Where(silo => metadata.GetSiloMetadata(silo).Metadata.TryGetValue(role, out var value) && value == "true");
    }
}

/// <summary>Registration of the role filters.</summary>
public static class SiloRolePlacementExtensions
{
    public static IServiceCollection AddSiloRolePlacementFilters(this IServiceCollection services) => services
        .AddPlacementFilter<ModelSiloPlacementFilterStrategy, SiloRolePlacementFilterDirector>(ServiceLifetime.Singleton)
        .AddPlacementFilter<PartitionSiloPlacementFilterStrategy, SiloRolePlacementFilterDirector>(ServiceLifetime.Singleton);
}
