namespace Avg.Cluster.Grains;

/// <summary>Names shared by grains and silo configuration.</summary>
public static class AvgStorage
{
    /// <summary>The grain storage provider (Redis when configured, in-memory otherwise).</summary>
    public const string Name = "avg";
}

/// <summary>A partition as persisted: flat arrays, so storage holds a few bytes per image plus its id.</summary>
[GenerateSerializer]
public sealed class PartitionState
{
    [Id(0)] public long Revision { get; set; }

    [Id(1)] public int Depth { get; set; }

    [Id(2)] public int VocabularySize { get; set; }

    [Id(3)] public string[] Ids { get; set; } = [];

    /// <summary>Row i (Depth vokens) belongs to Ids[i].</summary>
    [Id(4)] public int[] Vokens { get; set; } = [];

    [Id(5)] public string?[] Uris { get; set; } = [];
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

/// <summary>One bucket of the image directory as persisted: id → partition.</summary>
[GenerateSerializer]
public sealed class DirectoryState
{
    [Id(0)] public Dictionary<string, int> Partitions { get; set; } = new(StringComparer.Ordinal);
}
