namespace Avg.Cluster.Placement;

/// <summary>
/// What a silo declares in its Orleans silo metadata (<c>UseSiloMetadata</c>): its roles and whether its model host
/// runs on a GPU. Placement filters read it to keep model-running grains on model silos.
/// </summary>
public static class SiloCapabilities
{
    /// <summary>"true" when the silo hosts the model (query and tokenization grains).</summary>
    public const string ModelKey = "model";

    /// <summary>"true" when the silo hosts trie partitions.</summary>
    public const string PartitionsKey = "partitions";

    /// <summary>"true" when the model host runs on CUDA.</summary>
    public const string GpuKey = "gpu";

    /// <summary>The silo's roles, comma-separated.</summary>
    public const string RolesKey = "roles";

    /// <summary>The silo's HTTP port (for the silo list in stats).</summary>
    public const string HttpPortKey = "http";

    public static Dictionary<string, string> Metadata(IReadOnlyCollection<string> roles, bool gpu, int httpPort) => new()
    {
        [ModelKey] = Flag(roles.Contains(Hosting.AvgSiloOptions.ModelRole)),
        [PartitionsKey] = Flag(roles.Contains(Hosting.AvgSiloOptions.PartitionsRole)),
        [GpuKey] = Flag(gpu),
        [RolesKey] = string.Join(',', roles),
        [HttpPortKey] = httpPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static string Flag(bool value) => value ? "true" : "false";
}
