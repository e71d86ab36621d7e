using System.Text.Json.Serialization;

namespace Avg.Silo.Http;

// The JSON bodies of docs/http-api.md (camelCase on the wire).

/// <summary>POST /v1/search body.</summary>
public sealed record SearchRequestBody(string? Query, int? K, int? Beam, string? IndexVersion, int[]? LevelBeams = null);

/// <param name="Partial">True when the results may lack images: <paramref name="MissingPartitions"/> were left out, <paramref name="StalePartitions"/> read from older copies, or the catalog was an older copy (<paramref name="StaleCatalog"/>), because they did not answer within Avg__QueryTimeoutMs.</param>
public sealed record SearchResponseBody(IReadOnlyList<SearchHitBody> Results, string IndexVersion, SearchTimingBody Timing, bool Partial, int[] MissingPartitions, int[] StalePartitions, bool StaleCatalog);

public sealed record SearchHitBody(string ImageId, float Score, int[] Vokens, string? Uri);

public sealed record SearchTimingBody(double TotalMs, double GeneratorMs, int FanOutCalls, double CatalogMs, double WaitMs);

/// <summary>POST /v1/images body.</summary>
public sealed record IngestRequestBody(IReadOnlyList<IngestImageBody?>? Images, string? IndexVersion);

public sealed record IngestImageBody(string? Id, string? ImageBase64, [property: JsonConverter(typeof(ExactFloatArrayConverter))] float[]? Features, string? Uri);

public sealed record IngestResponseBody(IReadOnlyList<IndexedImageBody> Indexed, string IndexVersion, double ElapsedMs);

/// <param name="Fine">The image's fine codes (0–255 each), which rank it among images sharing its vokens; empty when the bundle has none.</param>
public sealed record IndexedImageBody(string Id, int[] Vokens, int Partition, int[] Fine);

/// <summary>GET /v1/images/{id} response.</summary>
public sealed record ImageBody(string Id, int[] Vokens, int Partition, string? Uri);

public sealed record StatsResponseBody(
    int Images,
    int Partitions,
    string IndexVersion,
    IReadOnlyList<ShardBody> Shards,
    IReadOnlyList<PartitionLoadBody> PartitionLoad,
    QueryStatsBody Queries,
    IReadOnlyList<SiloBody> Silos);

public sealed record ShardBody(int Shard, long Images, double ImagesPerSecond, double RecentImagesPerSecond, double[] History);

public sealed record PartitionLoadBody(int Partition, int Images, long Queries);

public sealed record QueryStatsBody(long Count, double P50Ms, double P99Ms, double QueriesPerSecond);

public sealed record SiloBody(string Address, IReadOnlyList<string> Roles, bool Model, bool Gpu, string Status);
