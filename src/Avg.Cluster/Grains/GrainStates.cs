namespace Avg.Cluster.Grains;

/// <summary>Names shared by grains and silo configuration.</summary>
public static class AvgStorage
{
    /// <summary>The grain storage provider (Redis when configured, in-memory otherwise).</summary>
    public const string Name = "avg";
}

/// <summary>The catalog as persisted: partitions that exist, with image counts and revisions.</summary>
[GenerateSerializer]
public sealed class CatalogState
{
    [Id(0)] public long Version { get; set; }

    [Id(1)] public Dictionary<int, CatalogEntry> Partitions { get; set; } = [];
}

[GenerateSerializer]
public sealed class CatalogEntry
{
    [Id(0)] public int Images { get; set; }

    [Id(1)] public long Revision { get; set; }

    [Id(2)] public long Queries { get; set; }
}
