using Avg.Cluster.Model;
using Avg.Retrieval;

namespace Avg.Cluster.Inference;

/// <summary>A query waiting for the generator.</summary>
internal sealed class SearchJob(string query, SearchOptions options, string indexVersion, CatalogSnapshot catalog, long deadline) : InferenceJob<HostSearchOutcome>
{
    public string Query { get; } = query;

    public SearchOptions Options { get; } = options;

    public string IndexVersion { get; } = indexVersion;

    /// <summary>The partitions searched: the catalog read, less the ones that did not answer by the deadline.</summary>
    public CatalogSnapshot Catalog { get; set; } = catalog;

    /// <summary><see cref="System.Diagnostics.Stopwatch.GetTimestamp"/> after which missing partitions are read from older copies or left out.</summary>
    public long Deadline { get; } = deadline;

    /// <summary>When it was queued (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>).</summary>
    public long Queued { get; } = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>The partitions of an earlier attempt that was set aside while they were fetched.</summary>
    public PartitionSource? Source { get; set; }
}

/// <summary>A batch of images waiting for the encoder and tokenizer: feature vectors or decoded pixels, one array per image.</summary>
internal sealed class TokenizeJob(IReadOnlyList<float[]>? features, IReadOnlyList<byte[]>? pixels, int count) : InferenceJob<TokenizedImages>
{
    /// <summary>The feature vectors, in parts (one per image, or one for the whole batch).</summary>
    public IReadOnlyList<float[]>? Features { get; } = features;

    /// <summary>The pixels, in parts as <see cref="Features"/>.</summary>
    public IReadOnlyList<byte[]>? Pixels { get; } = pixels;

    public int Count { get; } = count;
}

/// <summary>Which waiting jobs share one model pass (docs/cluster.md, "Model host").</summary>
internal static class InferenceBatching
{
    /// <summary>Most images of queued ingest tokenized in one pass.</summary>
    public const int IngestChunkImages = 1024;

    /// <summary>
    /// Queries share a generator pass when they search the same catalog snapshot with the same beam widths and
    /// normalisation (one trie view, one beam search); at most <paramref name="maxBatch"/> per pass.
    /// </summary>
    public static IEnumerable<SearchJob[]> Searches(IReadOnlyList<SearchJob> waiting, int maxBatch) =>
        waiting
            .GroupBy(j => (j.Catalog, j.IndexVersion, j.Options.Beam, Widths: string.Join(',', j.Options.LevelBeams ?? []), j.Options.Normalization))
            .SelectMany(group => group.Chunk(maxBatch));

    /// <summary>
    /// Image batches from every shard share an encoder and tokenizer pass, in arrival order, up to
    /// <paramref name="chunkImages"/> images a pass (a larger batch runs alone); feature vectors and pixels run apart.
    /// </summary>
    public static IEnumerable<TokenizeJob[]> Ingest(IReadOnlyList<TokenizeJob> waiting, int chunkImages = IngestChunkImages)
    {
        var chunk = new List<TokenizeJob>();
        var images = 0;
        foreach (var job in waiting)
        {
            if (chunk.Count > 0 && images + job.Count > chunkImages)
            {
                foreach (var part in ByInput(chunk))
                {
                    yield return part;
                }

                chunk.Clear();
                images = 0;
            }

            chunk.Add(job);
            images += job.Count;
        }

        foreach (var part in ByInput(chunk))
        {
            yield return part;
        }
    }

    private static IEnumerable<TokenizeJob[]> ByInput(List<TokenizeJob> chunk) =>
        new[] { chunk.Where(j => j.Features is not null).ToArray(), chunk.Where(j => j.Pixels is not null).ToArray() }.Where(part => part.Length > 0);
}
