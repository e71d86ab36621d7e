using Microsoft.Extensions.DependencyInjection;
using Orleans.Metadata;
using Orleans.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;

namespace Avg.Cluster.Placement;

/// <summary>Places a grain only on silos whose metadata declares the role (e.g. <c>model=true</c>); the placement strategy then picks among them.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SiloRolePlacementFilterAttribute(string role)
    : PlacementFilterAttribute(new SiloRolePlacementFilterStrategy(role))
{
    public string Role { get; } = role;
}

/// <summary>The filter's strategy: carries the required role in the grain's properties.</summary>
public sealed class SiloRolePlacementFilterStrategy : PlacementFilterStrategy
{
    private const string RoleProperty = "role";

    public SiloRolePlacementFilterStrategy()
        : this("")
    {
    }

    public SiloRolePlacementFilterStrategy(string role)
        : base(order: 0) => Role = role;

    public string Role { get; private set; }

    public override void AdditionalInitialize(GrainProperties properties) =>
        Role = GetPlacementFilterGrainProperty(RoleProperty, properties) ?? "";

    protected override IEnumerable<KeyValuePair<string, string>> GetAdditionalGrainProperties(
        IServiceProvider services, Type grainClass, GrainType grainType, IReadOnlyDictionary<string, string> existingProperties)
    {
        yield return new KeyValuePair<string, string>(RoleProperty, Role);
    }
}

/// <summary>Keeps the silos whose metadata has <c>{role}=true</c>.</summary>
internal sealed class SiloRolePlacementFilterDirector(ISiloMetadataCache metadata) : IPlacementFilterDirector
{
    public IEnumerable<SiloAddress> Filter(PlacementFilterStrategy filterStrategy, PlacementTarget target, IEnumerable<SiloAddress> silos)
    {
        var role = (filterStrategy as SiloRolePlacementFilterStrategy)?.Role;
        if (string.IsNullOrEmpty(role))
        {
            return silos;
        }

        return silos.Where(silo => metadata.GetSiloMetadata(silo).Metadata.TryGetValue(role, out var value) && value == "true");
    }
}

/// <summary>Registration of the role filter.</summary>
public static class SiloRolePlacementExtensions
{
    public static IServiceCollection AddSiloRolePlacementFilter(this IServiceCollection services) =>
        services.AddPlacementFilter<SiloRolePlacementFilterStrategy, SiloRolePlacementFilterDirector>(ServiceLifetime.Singleton);
}
