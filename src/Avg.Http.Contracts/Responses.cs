using System.Text.Json.Serialization;
using Avg.Http;

// The response bodies of docs/http-api.md, camelCase on the wire. They are the client SDK's public result types (hence
// the SDK's namespace, so that its callers' code is unchanged) and what the silo host answers with: one definition of
// each shape for both sides (docs/design.md, "HTTP API"). Lists are IReadOnlyList and the fields a server may leave out
// have defaults, so that a reader accepts what older servers sent; the silo always sends every field.

namespace Avg.Client;

/// <summary>The ranked images for a query, best first, with the index version that produced them.</summary>
/// <param name="Results">Ranked images, best first.</param>
/// <param name="IndexVersion">The bundle manifest hash the index was built with.</param>
/// <param name="Timing">Where the server spent the query's time.</param>
/// <param name="Partial">
/// True when the results may lack images: some partitions did not answer within the server's query deadline and were
/// left out (<paramref name="MissingPartitions"/>) or read from older copies (<paramref name="StalePartitions"/>), or
/// the index catalog was an older copy (<paramref name="StaleCatalog"/>). Retry later for complete results.
/// </param>
/// <param name="MissingPartitions">Partitions (first vokens) left out of this answer.</param>
/// <param name="StalePartitions">Partitions read from a copy older than the index's current one.</param>
/// <param name="StaleCatalog">The server used the last index catalog it had read, as the catalog did not answer in time.</param>
/// <param name="Beam">
/// The beam the server searched with: the request's, or the index's default where the request gave none; null when the
/// request gave level beams (or the server predates the field).
/// </param>
public sealed record SearchResults(
    IReadOnlyList<SearchResult> Results,
    string? IndexVersion,
    SearchTiming? Timing,
    bool Partial = false,
    IReadOnlyList<int>? MissingPartitions = null,
    IReadOnlyList<int>? StalePartitions = null,
    bool StaleCatalog = false,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Beam = null);

/// <summary>One retrieved image.</summary>
/// <param name="ImageId">The id it was indexed under.</param>
/// <param name="Score">
/// The image's score for the query (a log-probability, plus the collision ranking's term; higher ranks first). The
/// server computes it in single precision and writes it so (<see cref="SinglePrecisionConverter"/>).
/// </param>
/// <param name="Vokens">The image's voken sequence.</param>
/// <param name="Uri">The URI given when it was indexed, if any.</param>
public sealed record SearchResult(string ImageId, [property: JsonConverter(typeof(SinglePrecisionConverter))] double Score, IReadOnlyList<int> Vokens, string? Uri);

/// <summary>Server-side cost of one query, for latency budgeting.</summary>
/// <param name="TotalMs">Wall time inside the server.</param>
/// <param name="GeneratorMs">Time in the token-to-voken generator.</param>
/// <param name="FanOutCalls">Grain calls the query made: 1 for the index catalog plus one per partition fetched or refreshed (0 when every partition was cached). The name is the wire field's, <c>fanOutCalls</c>.</param>
/// <param name="CatalogMs">Time reading the index catalog.</param>
/// <param name="WaitMs">Time waiting on the model host before the generator ran (its queue and partition fetches).</param>
public sealed record SearchTiming(double TotalMs, double GeneratorMs, int FanOutCalls, double CatalogMs = 0, double WaitMs = 0);

/// <summary>What a batch ingest did: each image's vokens and partition.</summary>
/// <param name="Indexed">One entry per image sent, with its vokens and the partition that holds it.</param>
/// <param name="IndexVersion">The index version the images were added to.</param>
/// <param name="ElapsedMs">Server-side time for the batch.</param>
public sealed record IndexImagesResult(IReadOnlyList<IndexedImage> Indexed, string? IndexVersion, double ElapsedMs);

/// <summary>An image as the index holds it.</summary>
/// <param name="Id">The image id.</param>
/// <param name="Vokens">Its voken sequence.</param>
/// <param name="Partition">The trie partition that holds it (its first voken).</param>
/// <param name="Uri">The URI given when it was indexed; never set in ingest responses (nor written there).</param>
/// <param name="Fine">
/// Its fine codes (0–255 each, the bytes that rank it among images sharing its vokens; empty when the bundle has none);
/// set in ingest responses only.
/// </param>
/// <remarks>
/// The entries of an ingest response. <c>GET /v1/images/{id}</c> answers <see cref="ImageBody"/>, whose <c>uri</c> is
/// written even when null; the SDK returns it as this type.
/// </remarks>
public sealed record IndexedImage(
    string Id,
    IReadOnlyList<int> Vokens,
    int Partition,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Uri = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<int>? Fine = null);

/// <summary>A snapshot of the cluster: index size, ingest throughput, query latency, silos.</summary>
/// <param name="Images">Images in the index (cluster-wide).</param>
/// <param name="Partitions">Trie partitions holding them.</param>
/// <param name="Queries">Latency and rate of the searches of the silo that answered.</param>
public sealed record IndexStats(
    long Images,
    int Partitions,
    string? IndexVersion,
    IReadOnlyList<ShardStats>? Shards,
    IReadOnlyList<PartitionLoad>? PartitionLoad,
    QueryStats? Queries,
    IReadOnlyList<SiloInfo>? Silos);

/// <summary>Ingest throughput of one tokenization shard.</summary>
/// <param name="ImagesPerSecond">Images per second while busy, since the shard's activation.</param>
/// <param name="RecentImagesPerSecond">Images per second over the last 10 seconds.</param>
/// <param name="History">Images per second in 5-second steps over the last 5 minutes, oldest first.</param>
public sealed record ShardStats(int Shard, long Images, double ImagesPerSecond, double RecentImagesPerSecond = 0, IReadOnlyList<double>? History = null);

/// <summary>How many images a trie partition holds and how many queries reached it.</summary>
public sealed record PartitionLoad(int Partition, long Images, long Queries);

/// <summary>Query latency and rate over the server's recent window.</summary>
public sealed record QueryStats(long Count, double P50Ms, double P99Ms, double QueriesPerSecond);

/// <summary>One silo of the cluster and what it can host.</summary>
/// <param name="Address">Silo endpoint, host:port.</param>
/// <param name="Roles">Its roles (<c>model</c>, <c>partitions</c>).</param>
/// <param name="Model">Whether it hosts the model.</param>
/// <param name="Gpu">Whether its model runs on CUDA.</param>
/// <param name="Status">Orleans membership status, e.g. <c>Active</c>.</param>
public sealed record SiloInfo(string Address, IReadOnlyList<string> Roles, bool Model, bool Gpu, string Status);
