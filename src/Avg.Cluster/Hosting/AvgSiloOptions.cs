using System.Globalization;
using System.Net;

namespace Avg.Cluster.Hosting;

/// <summary>
/// Everything a silo host is configured with: the <c>Avg</c> configuration section, i.e. <c>Avg__*</c> environment
/// variables or <c>--Avg:Name=value</c> arguments (docs/http-api.md lists them). Validated at start-up.
/// </summary>
public sealed class AvgSiloOptions
{
    /// <summary>Configuration section the options bind from.</summary>
    public const string Section = "Avg";

    public const string ModelRole = "model";
    public const string PartitionsRole = "partitions";

    /// <summary>Model bundle directory (<c>avg train --out</c>); required when the silo has the model role.</summary>
    public string? Bundle { get; set; }

    /// <summary>Redis connection string; empty runs embedded (one localhost silo, in-memory storage).</summary>
    public string? Redis { get; set; }

    public string ClusterId { get; set; } = "avg";

    public string ServiceId { get; set; } = "avg-cluster";

    public int SiloPort { get; set; } = 11111;

    public int GatewayPort { get; set; } = 30000;

    public int HttpPort { get; set; } = 8080;

    /// <summary>Address other silos reach; default loopback when embedded, else the first non-loopback IPv4.</summary>
    public string? AdvertisedIp { get; set; }

    /// <summary>Comma-separated roles: <c>model</c> (query and tokenization grains), <c>partitions</c> (trie partitions).</summary>
    public string Roles { get; set; } = "model,partitions";

    /// <summary><c>auto</c>, <c>cpu</c>, <c>cuda</c>, <c>cuda:N</c>.</summary>
    public string Device { get; set; } = "auto";

    /// <summary>
    /// TorchSharp threads of the model host; 0 = all cores but one (at least 1). The silo's HTTP server, grains and GC
    /// need a core: on 2 cores, two intra-op threads stalled queries (idle HTTP p99 808 ms against 23.5 ms with one,
    /// docs/benchmarks.md, "avg-bench scale").
    /// </summary>
    public int Threads { get; set; }

    /// <summary>The threads the model host runs with: <see cref="Threads"/>, or all cores but one when it is 0.</summary>
    public int EffectiveThreads => Threads > 0 ? Threads : Math.Max(1, Environment.ProcessorCount - 1);

    /// <summary>
    /// Nice value (Linux; below-normal priority elsewhere) of the model host's ingest thread, which runs the encoder and
    /// tokenizer of ingest batches beside the inference thread that runs searches: with the cores busy the kernel then
    /// runs searches first (docs/cluster.md, "Model host"). 0 keeps ingest at the searches' priority.
    /// </summary>
    public int IngestNice { get; set; } = 10;

    /// <summary>Tokenization shards that ingest batches are spread over.</summary>
    public int Shards { get; set; } = 4;

    /// <summary>
    /// Directory and partition calls a silo's ingest shards have in flight at once, all shards together (docs/cluster.md,
    /// "Queries during ingest"): grain turns share the thread pool's queue with queries, so a batch fanned out to every
    /// partition at once would queue a query's next step behind hundreds of ingest turns.
    /// </summary>
    public int IngestFanOut { get; set; } = 2;

    /// <summary>
    /// Search first: how long (ms) an ingest directory or partition call waits for the searches in progress on its silo
    /// to finish before it starts anyway (docs/cluster.md, "Queries during ingest"). 0, the default, starts it at once:
    /// on 2 cores a hold of 5 ms kept a search's p99 during ingest within 1.4 × idle but cut ingest from about 5,000
    /// to 1,000 images/s while a client searched back to back.
    /// </summary>
    public int IngestHoldMs { get; set; }

    /// <summary>Comma-separated plain API keys with full access (read and write), hashed at start-up; empty with no key hashes: no key needed.</summary>
    public string? ApiKeys { get; set; }

    /// <summary>Comma-separated SHA-256 hashes (64 hex digits) of keys that may search and read (search, stats, images, neighbours).</summary>
    public string? ReadKeyHashes { get; set; }

    /// <summary>Comma-separated SHA-256 hashes of keys that may also ingest and delete.</summary>
    public string? WriteKeyHashes { get; set; }

    /// <summary>When keys are configured: the pages, <c>/images/*</c>, <c>/dashboard</c>, <c>/metrics</c> and <c>/openapi</c> need a key too (health stays open).</summary>
    public bool ProtectPages { get; set; }

    /// <summary>Requests one caller (API key, or client address without keys) may make per <see cref="RateLimitWindowSeconds"/>; 0: no limit.</summary>
    public int RateLimitRequests { get; set; }

    public int RateLimitWindowSeconds { get; set; } = 60;

    /// <summary>The ingest batch limit: images one <c>POST /v1/images</c> may carry.</summary>
    public const int IngestBatchLimit = Avg.Data.IngestLimits.MaxBatch;

    /// <summary>Request bytes allowed per image of a full batch: a 32 KiB base64 image, or features of width 2,048.</summary>
    public const int RequestBytesPerImage = 32 * 1024;

    /// <summary>Largest request body (Kestrel's MaxRequestBodySize); larger ones get 413. Default: a full batch of <see cref="RequestBytesPerImage"/>-byte images.</summary>
    public long MaxRequestBytes { get; set; } = (long)IngestBatchLimit * RequestBytesPerImage;

    public int ShutdownSeconds { get; set; } = 20;

    /// <summary>Seconds past <see cref="ShutdownSeconds"/> after which a silo process whose shutdown hangs exits anyway (code 1).</summary>
    public const int ShutdownWatchdogMarginSeconds = 10;

    /// <summary>
    /// Folder of image files the search page shows (<c>GET /images/{fileName}</c>, matched by the last segment of an
    /// image's <c>uri</c>); empty: pages show only images whose <c>uri</c> is an http(s) URL.
    /// </summary>
    public string? ImageRoot { get; set; }

    /// <summary>
    /// Seconds after which an unresponsive silo is declared dead (Orleans membership probes); 0 keeps Orleans'
    /// defaults (about 30 s or more). Lower values recover faster from a crashed silo but risk false suspicion
    /// under heavy load.
    /// </summary>
    public int FailureDetectionSeconds { get; set; }

    /// <summary>Most queries (or image batches) the model host runs in one forward pass.</summary>
    public int MaxBatch { get; set; } = 16;

    /// <summary>
    /// Near-real-time search: a query may read a cached partition up to this many milliseconds after it was last
    /// refreshed although the partition has changed since, while the refresh runs in the background; queries during
    /// ingest then do not wait for partition fetches. 0, the default, refreshes a changed partition before a query
    /// reads it (every query sees every image indexed before it started).
    /// </summary>
    public int RefreshMs { get; set; }

    /// <summary>
    /// Deadline of one search on the silo, in milliseconds: partitions not fetched by then (a slow or unreachable
    /// partition silo) are answered from an older cached copy, or left out, and the answer says so (<c>partial</c>);
    /// a catalog that does not answer in time is replaced by the last one this silo read. The HTTP API gives up on a
    /// search that has still not answered <see cref="QueryDeadlineGraceMs"/> later (503).
    /// </summary>
    public int QueryTimeoutMs { get; set; } = 5000;

    /// <summary>What the HTTP API adds to <see cref="QueryTimeoutMs"/> for the model's own time before it answers 503.</summary>
    public const int QueryDeadlineGraceMs = 2000;

    /// <summary>
    /// A partition or directory bucket folds its stored change records into a new base once they name at least this
    /// many images and at least half as many as it holds (docs/cluster.md, "Incremental partitions").
    /// </summary>
    public int CompactionMinimum { get; set; } = 4096;

    /// <summary>
    /// α of <c>VokenPrior</c> (Avg__PriorWeight): the share of each voken's log train frequency taken off search scores.
    /// Given, a bundle that does not record the frequencies is refused at start; unset, the <see cref="Preset"/>'s α is
    /// used where the bundle records them (0.4 by default; docs/training.md). 0 ranks by the paper's sum of log-probabilities.
    /// </summary>
    public double? PriorWeight { get; set; }

    /// <summary>Named search settings behind those not given (Avg__Preset): <c>default</c>, the best measured on val, or <c>paper</c>.</summary>
    public string Preset { get; set; } = "default";

    /// <summary>
    /// w of the collision ranking (Avg__CollisionWeight): images of the leaves a search reaches are ranked by the generator
    /// score + w · the query's similarity to their fine codes (docs/design.md, "Ranking within collisions"); 0 turns it off.
    /// Bundles without fine codebooks rank by the generator score alone (a warning at start-up says so). Null (unset): the
    /// bundle's own (<see cref="Avg.Retrieval.SearchDefaults"/>: 30, or 100 for the pretrained encoder's default recipe).
    /// </summary>
    public double? CollisionWeight { get; set; }

    public bool Embedded => string.IsNullOrWhiteSpace(Redis);

    public IReadOnlyList<string> RoleList =>
        Roles.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(r => r.ToLowerInvariant()).ToArray();

    public bool HasModel => RoleList.Contains(ModelRole);

    public bool HasPartitions => RoleList.Contains(PartitionsRole);

    public IReadOnlyList<string> ApiKeyList => SplitList(ApiKeys);

    public IReadOnlyList<string> ReadKeyHashList => SplitList(ReadKeyHashes);

    public IReadOnlyList<string> WriteKeyHashList => SplitList(WriteKeyHashes);

    /// <summary>True when any key is configured, so <c>/v1/*</c> (and the pages with <see cref="ProtectPages"/>) need one.</summary>
    public bool RequiresKeys => ApiKeyList.Count > 0 || ReadKeyHashList.Count > 0 || WriteKeyHashList.Count > 0;

    /// <summary>
    /// Throws <see cref="AvgException"/> naming the setting, its value and what to do. <paramref name="standalone"/>:
    /// also check that an embedded silo (no Redis) can run alone; false where the caller provides clustering (tests).
    /// </summary>
    public AvgSiloOptions Validate(bool standalone = true)
    {
        var unknown = RoleList.Where(r => r is not ModelRole and not PartitionsRole).ToArray();
        if (unknown.Length > 0 || RoleList.Count == 0)
        {
            throw new AvgException($"Avg__Roles '{Roles}': expected a comma-separated list of '{ModelRole}' and '{PartitionsRole}'.");
        }

        if (HasModel && string.IsNullOrWhiteSpace(Bundle))
        {
            throw new AvgException("Avg__Bundle is not set but this silo has the model role: point it at a bundle directory (`avg train --out DIR`), or set Avg__Roles=partitions.");
        }

        if (HasModel && !Directory.Exists(Bundle))
        {
            throw new AvgException($"Avg__Bundle '{Bundle}': no such directory; train a bundle with `avg train --out {Bundle}`.");
        }

        if (standalone && Embedded && !HasModel)
        {
            throw new AvgException("Without Avg__Redis the silo runs embedded and alone, so it needs the model role (Avg__Roles=model,partitions).");
        }

        if (standalone && Embedded && !HasPartitions)
        {
            throw new AvgException("Without Avg__Redis the silo runs embedded and alone, so it needs the partitions role (Avg__Roles=model,partitions).");
        }

        CheckPort(nameof(SiloPort), SiloPort);
        CheckPort(nameof(GatewayPort), GatewayPort);
        CheckPort(nameof(HttpPort), HttpPort);
        if (Shards is < 1 or > 1024)
        {
            throw new AvgException($"Avg__Shards must be between 1 and 1024, got {Shards}.");
        }

        if (Threads < 0)
        {
            throw new AvgException($"Avg__Threads must be 0 (all cores but one) or more, got {Threads}.");
        }

        if (IngestFanOut is < 1 or > 1024)
        {
            throw new AvgException($"Avg__IngestFanOut must be between 1 and 1024, got {IngestFanOut}.");
        }

        if (IngestHoldMs is < 0 or > 1000)
        {
            throw new AvgException($"Avg__IngestHoldMs must be between 0 (ingest calls start at once) and 1000, got {IngestHoldMs}.");
        }

        if (IngestNice is < 0 or > 19)
        {
            throw new AvgException($"Avg__IngestNice must be between 0 (ingest at the searches' priority) and 19, got {IngestNice}.");
        }

        if (ShutdownSeconds < 0)
        {
            throw new AvgException($"Avg__ShutdownSeconds must be 0 or more, got {ShutdownSeconds}.");
        }

        if (FailureDetectionSeconds is < 0 or > 600)
        {
            throw new AvgException($"Avg__FailureDetectionSeconds must be between 0 (Orleans defaults) and 600, got {FailureDetectionSeconds}.");
        }

        if (RefreshMs is < 0 or > 60_000)
        {
            throw new AvgException($"Avg__RefreshMs must be between 0 (always fresh) and 60000, got {RefreshMs}.");
        }

        if (QueryTimeoutMs is < 100 or > 600_000)
        {
            throw new AvgException($"Avg__QueryTimeoutMs must be between 100 and 600000, got {QueryTimeoutMs}.");
        }

        if (CompactionMinimum < 1)
        {
            throw new AvgException($"Avg__CompactionMinimum must be at least 1, got {CompactionMinimum}.");
        }

        if (MaxBatch is < 1 or > 1024)
        {
            throw new AvgException($"Avg__MaxBatch must be between 1 and 1024, got {MaxBatch}.");
        }

        if (CollisionWeight is { } weight && !Avg.Retrieval.SearchOptions.IsValidCollisionWeight(weight))
        {
            throw new AvgException(string.Create(CultureInfo.InvariantCulture, $"Avg__CollisionWeight must be a number ≥ 0, got {weight}."));
        }

        if (PriorWeight is { } alpha && !Avg.Retrieval.VokenPrior.IsValidWeight(alpha))
        {
            throw new AvgException(string.Create(CultureInfo.InvariantCulture, $"Avg__PriorWeight must be a number ≥ 0, got {alpha}."));
        }

        Avg.Retrieval.SearchPresets.Parse(Preset, "Avg__Preset");

        CheckHashes(nameof(ReadKeyHashes), ReadKeyHashList);
        CheckHashes(nameof(WriteKeyHashes), WriteKeyHashList);
        if (RateLimitRequests < 0)
        {
            throw new AvgException($"Avg__RateLimitRequests must be 0 (no limit) or more, got {RateLimitRequests}.");
        }

        if (RateLimitWindowSeconds is < 1 or > 3600)
        {
            throw new AvgException($"Avg__RateLimitWindowSeconds must be between 1 and 3600, got {RateLimitWindowSeconds}.");
        }

        if (MaxRequestBytes < 1024)
        {
            throw new AvgException($"Avg__MaxRequestBytes must be at least 1024, got {MaxRequestBytes}.");
        }

        var device = Device.Trim().ToLowerInvariant();
        if (device is not ("auto" or "cpu" or "cuda") && !(device.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(device[5..], CultureInfo.InvariantCulture, out _)))
        {
            throw new AvgException($"Avg__Device '{Device}': expected auto, cpu, cuda or cuda:N.");
        }

        if (!string.IsNullOrWhiteSpace(ImageRoot) && !Directory.Exists(ImageRoot))
        {
            throw new AvgException($"Avg__ImageRoot '{ImageRoot}': no such directory; point it at the folder of the indexed image files, or leave it empty.");
        }

        if (!string.IsNullOrWhiteSpace(AdvertisedIp) && !IPAddress.TryParse(AdvertisedIp, out _))
        {
            throw new AvgException($"Avg__AdvertisedIp '{AdvertisedIp}' is not an IP address.");
        }

        return this;
    }

    private static string[] SplitList(string? list) =>
        (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static void CheckHashes(string name, IReadOnlyList<string> hashes)
    {
        for (var i = 0; i < hashes.Count; i++)
        {
            if (hashes[i].Length != 64 || !hashes[i].All(char.IsAsciiHexDigit))
            {
                // The entry is not shown: a key pasted here by mistake must not reach the logs.
                throw new AvgException(string.Create(CultureInfo.InvariantCulture, $"Avg__{name}: entry {i + 1} is not a SHA-256 hash (64 hex digits, e.g. from `printf %s KEY | sha256sum`)."));
            }
        }
    }

    private static void CheckPort(string name, int port)
    {
        if (port is < 1 or > 65535)
        {
            throw new AvgException($"Avg__{name} must be a TCP port (1..65535), got {port}.");
        }
    }
}
