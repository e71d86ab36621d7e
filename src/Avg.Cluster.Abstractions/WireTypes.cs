namespace Avg.Cluster;

/// <summary>The model bundle a model silo serves: the index version and the input shapes ingest must match.</summary>
[GenerateSerializer, Immutable]
public sealed class BundleInfo
{
    /// <summary>The bundle's manifest hash; every partition, catalog and directory grain is keyed by it.</summary>
    [Id(0)] public string IndexVersion { get; init; } = "";

    /// <summary>Width d of image feature vectors (the tokenizer's input).</summary>
    [Id(1)] public int FeatureWidth { get; init; }

    /// <summary>Side of the square RGB images the built-in encoder takes.</summary>
    [Id(2)] public int ImageSize { get; init; }

    /// <summary>M: vokens per image.</summary>
    [Id(3)] public int Levels { get; init; }

    /// <summary>N: codebook size.</summary>
    [Id(4)] public int CodebookSize { get; init; }

    /// <summary>False for bundles trained on precomputed features: they cannot index raw images.</summary>
    [Id(5)] public bool AcceptsImages { get; init; }

    [Id(6)] public string Device { get; init; } = "cpu";

    /// <summary>L: fine codes per image for ranking within collisions; 0 when the bundle has none.</summary>
    [Id(7)] public int FineLevels { get; init; }

    /// <summary>The beam of searches that give none: the bundle's recorded default (docs/design.md §1.7).</summary>
    [Id(8)] public int DefaultBeam { get; init; } = 20;
}

/// <summary>
/// One image to index: its id, exactly one of an image file's bytes, decoded pixels or a feature vector, and an optional URI.
/// </summary>
[GenerateSerializer, Immutable]
public sealed class IngestItem
{
    [Id(0)] public string Id { get; init; } = "";

    /// <summary>Planar RGB bytes (3 × size × size) at the bundle's image size, or null.</summary>
    [Id(1)] public byte[]? Pixels { get; init; }

    /// <summary>A feature vector of the bundle's width, or null.</summary>
    [Id(2)] public float[]? Features { get; init; }

    [Id(3)] public string? Uri { get; init; }

    /// <summary>
    /// An image file's bytes (PNG, JPEG), or null: the tokenization shard decodes them on its model silo, so a batch
    /// travels encoded (docs/design.md §2.4).
    /// </summary>
    [Id(4)] public byte[]? Image { get; init; }
}

/// <summary>
/// A batch tokenized but not yet indexed (<see cref="ITokenizationShardGrain.Tokenize"/>): its images with their
/// vokens, or, when any item was refused, what is wrong with each (field → problems, indices within the batch sent).
/// </summary>
[GenerateSerializer, Immutable]
public sealed class TokenizedBatch
{
    /// <summary>The items' vokens, in the order sent; empty when <see cref="Problems"/> is not.</summary>
    [Id(0)] public IndexedImage[] Images { get; init; } = [];

    [Id(1)] public Dictionary<string, string[]> Problems { get; init; } = [];

    public bool Refused => Problems.Count > 0;
}

/// <summary>An indexed image: id, voken sequence (its identifier; the first voken names its partition) and URI.</summary>
[GenerateSerializer, Immutable]
public sealed class IndexedImage
{
    [Id(0)] public string Id { get; init; } = "";

    [Id(1)] public int[] Vokens { get; init; } = [];

    [Id(2)] public string? Uri { get; init; }

    /// <summary>Fine codes (a few bytes after the identifier) that rank the image among those sharing its vokens; empty without them.</summary>
    [Id(3)] public byte[] Fine { get; init; } = [];

    /// <summary>The partition (first voken) that owns the image.</summary>
    public int Partition => Vokens[0];
}

/// <summary>
/// What changed in a partition between <see cref="BaseRevision"/> and <see cref="Revision"/>, for a query silo's
/// cache: the images added or replaced since (with their current vokens and URIs) and the ids removed since. A
/// <see cref="BaseRevision"/> of −1 means the whole partition: every image it holds, nothing removed.
/// </summary>
[GenerateSerializer, Immutable]
public sealed class PartitionChanges
{
    [Id(0)] public int FirstVoken { get; init; }

    /// <summary>The revision these changes bring a copy to; bumped by every change of the partition.</summary>
    [Id(1)] public long Revision { get; init; }

    /// <summary>The revision the changes apply to, or −1 for the whole partition.</summary>
    [Id(2)] public long BaseRevision { get; init; }

    /// <summary>M: vokens per image.</summary>
    [Id(3)] public int Levels { get; init; }

    /// <summary>Images present at <see cref="Revision"/> that were added or replaced after <see cref="BaseRevision"/>.</summary>
    [Id(4)] public string[] Ids { get; init; } = [];

    /// <summary>Row i (Levels vokens) belongs to Ids[i].</summary>
    [Id(5)] public int[] Vokens { get; init; } = [];

    [Id(6)] public string?[] Uris { get; init; } = [];

    /// <summary>Ids removed after <see cref="BaseRevision"/> and absent at <see cref="Revision"/>.</summary>
    [Id(7)] public string[] Removed { get; init; } = [];

    /// <summary>L: fine codes per image in <see cref="Fine"/>; 0 when the partition holds none.</summary>
    [Id(8)] public int FineLevels { get; init; }

    /// <summary>Row i (FineLevels bytes) belongs to Ids[i].</summary>
    [Id(9)] public byte[] Fine { get; init; } = [];

    public bool IsWhole => BaseRevision < 0;
}

/// <summary>A partition's image count and revision (what it reports to the catalog).</summary>
[GenerateSerializer, Immutable]
public sealed class PartitionInfo
{
    [Id(0)] public int Images { get; init; }

    [Id(1)] public long Revision { get; init; }
}

/// <summary>Which partitions exist in an index (first vokens ascending) with their revisions and image counts.</summary>
[GenerateSerializer, Immutable]
public sealed class CatalogSnapshot
{
    /// <summary>Bumped by every change reported to the catalog.</summary>
    [Id(0)] public long Version { get; init; }

    [Id(1)] public int[] FirstVokens { get; init; } = [];

    [Id(2)] public long[] Revisions { get; init; } = [];

    [Id(3)] public int[] ImageCounts { get; init; } = [];

    /// <summary>Queries that touched each partition (reported by query silos every few seconds).</summary>
    [Id(4)] public long[] Queries { get; init; } = [];

    public int Images => ImageCounts.Sum();
}

/// <summary>Throughput of one tokenization shard since its activation.</summary>
[GenerateSerializer, Immutable]
public sealed class ShardStats
{
    [Id(0)] public int Shard { get; init; }

    [Id(1)] public long Images { get; init; }

    /// <summary>Seconds spent inside ingest calls.</summary>
    [Id(2)] public double BusySeconds { get; init; }

    /// <summary>Images per busy second: what the shard sustains while it has work.</summary>
    public double ImagesPerSecond => BusySeconds > 0 ? Images / BusySeconds : 0;

    [Id(3)] public string Silo { get; init; } = "";

    /// <summary>Images per second over the last 10 seconds: the live figure of the shard dashboard.</summary>
    [Id(4)] public double RecentImagesPerSecond { get; init; }

    /// <summary>Images per second in 5-second steps over the last five minutes, oldest first.</summary>
    [Id(5)] public double[] History { get; init; } = [];
}

/// <summary>A text query for the cluster.</summary>
[GenerateSerializer, Immutable]
public sealed class SearchRequest
{
    [Id(0)] public string Query { get; init; } = "";

    [Id(1)] public int K { get; init; } = 10;

    /// <summary>Beam b; null for the bundle's default (<see cref="BundleInfo.DefaultBeam"/>).</summary>
    [Id(2)] public int? Beam { get; init; }

    /// <summary>Prefixes kept after each voken level in place of <see cref="Beam"/>; null for the uniform beam.</summary>
    [Id(3)] public int[]? LevelBeams { get; init; }

    /// <summary>Names the search for <see cref="IQueryGrain.Cancel"/>; empty when the caller will not cancel it that way.</summary>
    [Id(4)] public Guid RequestId { get; init; }
}

/// <summary>One ranked image.</summary>
[GenerateSerializer, Immutable]
public sealed class SearchResultItem
{
    [Id(0)] public string ImageId { get; init; } = "";

    /// <summary>Sum of the step log-probabilities of its voken sequence.</summary>
    [Id(1)] public float Score { get; init; }

    [Id(2)] public int[] Vokens { get; init; } = [];

    [Id(3)] public string? Uri { get; init; }
}

/// <summary>Ranked images with where the time went and how many grain calls the query fanned out to.</summary>
[GenerateSerializer, Immutable]
public sealed class SearchResult
{
    [Id(0)] public SearchResultItem[] Items { get; init; } = [];

    [Id(1)] public string IndexVersion { get; init; } = "";

    [Id(2)] public double TotalMs { get; init; }

    /// <summary>Time on the model host's inference thread (generator steps and constrained beam search).</summary>
    [Id(3)] public double GeneratorMs { get; init; }

    /// <summary>Grain calls made for this query: the catalog plus every partition fetched (cache misses).</summary>
    [Id(4)] public int GrainCalls { get; init; }

    /// <summary>Partitions the beams reached after step 1 (first vokens, ascending).</summary>
    [Id(5)] public int[] Partitions { get; init; } = [];

    /// <summary>Queries run in the same forward passes (1 = alone).</summary>
    [Id(6)] public int BatchSize { get; init; }

    [Id(7)] public string Silo { get; init; } = "";

    /// <summary>Time reading the index catalog's snapshot (a grain call; it waits behind partition reports).</summary>
    [Id(8)] public double CatalogMs { get; init; }

    /// <summary>Time the query waited on the model host before its last generator run: queue and partition fetches.</summary>
    [Id(9)] public double WaitMs { get; init; }

    /// <summary>Partitions the search would have read but left out: they did not answer within the deadline and no copy was held.</summary>
    [Id(10)] public int[] MissingPartitions { get; init; } = [];

    /// <summary>Partitions read from a copy older than the catalog's, because a fresh one did not arrive within the deadline.</summary>
    [Id(11)] public int[] StalePartitions { get; init; } = [];

    /// <summary>The index catalog did not answer within the deadline; the last one this silo read was used.</summary>
    [Id(12)] public bool StaleCatalog { get; init; }

    /// <summary>The beam the search ran with: the request's, or the bundle's default; 0 when it ran with level beams.</summary>
    [Id(13)] public int Beam { get; init; }

    /// <summary>Whether the answer may lack images: some partition was left out or read from an older copy, or the catalog was.</summary>
    public bool Partial => MissingPartitions.Length > 0 || StalePartitions.Length > 0 || StaleCatalog;
}
