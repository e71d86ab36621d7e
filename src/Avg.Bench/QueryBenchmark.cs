using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Avg.Evaluation;
using Avg.Models.Pipeline;
using Avg.Models.Runtime;
using Avg.Retrieval;
using TorchSharp;

namespace Avg.Bench;

/// <summary>
/// In-process query speed of AVG (text → generator beam search over the voken trie → ranked ids) against the
/// two-tower baseline (text → text encoder → exact dot product over every image vector → top-k), on the same
/// queries, at several index sizes, in one run on one machine (DESIGN §4).
/// </summary>
public sealed class QueryBenchmark
{
    private readonly QueryBenchmarkOptions options;
    private readonly TextWriter log;

    public QueryBenchmark(QueryBenchmarkOptions options, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        this.options = options.Validate();
        this.log = log;
    }

    /// <summary>Runs every size and returns the report (the JSON the command prints).</summary>
    public JsonObject Run()
    {
        using var model = AvgModel.Load(options.Bundle, options.Device, options.Threads);
        if (options.LevelBeams is { } widths && widths.Count != model.Config.Levels)
            throw new AvgException(Invariant($"--level-beams gives {widths.Count} widths but {options.Bundle} makes sequences of {model.Config.Levels} vokens: give one width per level"));
        var largest = options.LargestSize;
        var images = ShapesIndexImages.Ensure(options.Cache, options.Seed, model.Config.ImageSize, largest, log);
        var vectors = images.Encode(model, largest, log, out var encodeRate);
        var width = vectors.Length / largest;
        var clock = Stopwatch.StartNew();
        var vokens = model.Tokenize(vectors);
        var tokenizeSeconds = clock.Elapsed.TotalSeconds;
        log.WriteLine(Invariant($"tokenized {largest} images in {tokenizeSeconds:F1}s"));

        var (queries, truth) = PickQueries(images);
        var prior = options.PriorWeight > 0 ? model.VokenPrior(options.PriorWeight) : null;
        var ids = Enumerable.Range(0, largest).Select(i => (long)i).ToArray();
        var sizes = new JsonArray();
        double? firstAvgP50 = null, lastAvgP50 = null, firstTwoTowerP50 = null, lastTwoTowerP50 = null;
        foreach (var n in options.Sizes.Distinct().Order())
        {
            // Balancing depends on the whole indexed set, so each size is balanced on its own.
            var indexVokens = options.Balanced ? model.Tokenizer.EncodeBalanced(vectors[..(n * width)]) : vokens[..(n * model.Config.Levels)];
            var trie = VokenTrie.Build(ids.AsSpan(0, n), indexVokens, model.Config.Levels, model.Config.CodebookSize);
            var exact = new ExactDotProductSearch(vectors.AsSpan(0, n * width), width);
            using var searcher = model.CreateSearcher(trie, new SearchOptions { Beam = options.Beam, LevelBeams = options.LevelBeams, K = options.K, Prior = prior });

            log.WriteLine(Invariant($"[{n} images] avg: {options.Queries} single-stream queries at {Width()}"));
            var avg = SingleStream(queries, truth, q => Scored(searcher.Search([q])[0]));
            var avgBatched = Batched(queries, batch => searcher.Search(batch).Select(Scored).ToArray());
            log.WriteLine(Invariant($"[{n} images] two_tower: {options.Queries} single-stream queries"));
            var twoTower = SingleStream(queries, truth, q => exact.Search(model.EncodeTexts([q]), options.K));
            var twoTowerBatched = Batched(queries, batch =>
                exact.SearchBatch(model.EncodeTexts(batch), options.K));

            var row = new JsonObject
            {
                ["images"] = n,
                ["trie_nodes"] = trie.NodeCount,
                ["distinct_sequences"] = trie.SequenceCount,
                ["collision_rate"] = Math.Round(trie.CollisionRate, 4),
                ["avg"] = ToJson(avg, avgBatched, (double)SerializedBytes(trie) / n),
                ["two_tower"] = ToJson(twoTower, twoTowerBatched, width * sizeof(float)),
                ["avg_over_two_tower_qps"] = Math.Round(avg.Latency.QueriesPerSecond / twoTower.Latency.QueriesPerSecond, 3),
            };
            sizes.Add(row);
            log.WriteLine(Invariant($"[{n} images] avg {avg.Latency.QueriesPerSecond:F1} q/s p50 {avg.Latency.P50Ms:F2} ms p99 {avg.Latency.P99Ms:F2} ms | two_tower {twoTower.Latency.QueriesPerSecond:F1} q/s p50 {twoTower.Latency.P50Ms:F2} ms p99 {twoTower.Latency.P99Ms:F2} ms"));
            firstAvgP50 ??= avg.Latency.P50Ms;
            firstTwoTowerP50 ??= twoTower.Latency.P50Ms;
            lastAvgP50 = avg.Latency.P50Ms;
            lastTwoTowerP50 = twoTower.Latency.P50Ms;
        }

        return new JsonObject
        {
            ["bundle"] = Path.GetFullPath(options.Bundle),
            ["method"] = model.Config.Method,
            ["codebook_size"] = model.Config.CodebookSize,
            ["levels"] = model.Config.Levels,
            ["embedding_dim"] = width,
            ["beam"] = options.Beam,
            ["level_beams"] = options.LevelBeams is { } levelBeams ? new JsonArray(levelBeams.Select(w => (JsonNode)w).ToArray()) : null,
            ["k"] = options.K,
            ["queries"] = options.Queries,
            ["warmup"] = options.Warmup,
            ["batch"] = options.Batch,
            ["threads"] = torch.get_num_threads(),
            ["seed"] = options.Seed,
            ["balanced"] = options.Balanced,
            ["prior_weight"] = options.PriorWeight,
            ["sizes"] = sizes,
            ["flatness"] = Math.Round(lastAvgP50!.Value / firstAvgP50!.Value, 3),
            ["two_tower_growth"] = Math.Round(lastTwoTowerP50!.Value / firstTwoTowerP50!.Value, 3),
            ["index_build"] = new JsonObject
            {
                ["images"] = largest,
                ["generate_s"] = Math.Round(images.GenerateSeconds, 1),
                ["encode_images_per_s"] = encodeRate > 0 ? Math.Round(encodeRate, 0) : null,
                ["tokenize_s"] = Math.Round(tokenizeSeconds, 2),
            },
            ["machine"] = new JsonObject
            {
                ["cores"] = Environment.ProcessorCount,
                ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
                ["runtime"] = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
                ["device"] = model.Device.ToString(),
                ["torch"] = TorchRuntime.Describe(),
            },
        };
    }

    /// <summary>One query's ranked images with their scores.</summary>
    private delegate ScoredImage[] SingleQuery(string query);

    private delegate ScoredImage[][] BatchQuery(IReadOnlyList<string> queries);

    /// <param name="ResultsHash">Digest of every ranked id and score bit: equal before and after a change to the hot path means identical results.</param>
    private sealed record MethodRun(LatencySummary Latency, double RecallAtK, double ManagedBytesPerQuery, string ResultsHash);

    /// <summary>
    /// Queries the smallest index's images by one of their own captions, spread evenly over them and over the five
    /// captions, so every size holds every query's image and both methods get the same list.
    /// </summary>
    private (string[] Queries, long[] Truth) PickQueries(ShapesIndexImages images)
    {
        var smallest = options.SmallestSize;
        var queries = new string[options.Queries];
        var truth = new long[options.Queries];
        for (var i = 0; i < queries.Length; i++)
        {
            var image = (int)((long)i * smallest / queries.Length % smallest);
            queries[i] = images.Caption(image, i % Shapes.ShapesWorld.CaptionsPerImage);
            truth[i] = image;
        }
        return (queries, truth);
    }

    /// <summary>Runs warm-up queries, then each query alone, end to end, timing each.</summary>
    private MethodRun SingleStream(string[] queries, long[] truth, SingleQuery search)
    {
        for (var i = 0; i < options.Warmup; i++) search(queries[i % queries.Length]);
        var ticks = new long[queries.Length];
        var ranked = new ScoredImage[queries.Length][];
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < queries.Length; i++)
        {
            var start = Stopwatch.GetTimestamp();
            ranked[i] = search(queries[i]);
            ticks[i] = Stopwatch.GetTimestamp() - start;
        }
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        var ids = ranked.Select(r => r.Select(s => s.ImageId).ToArray()).ToArray();
        var recall = Recall.AtK(ids, truth, options.K);
        return new MethodRun(LatencySummary.FromTicks(ticks), recall, (double)allocated / queries.Length, Digest(ranked));
    }

    /// <summary>Queries per second when <see cref="QueryBenchmarkOptions.Batch"/> queries are searched together; null when skipped.</summary>
    private double? Batched(string[] queries, BatchQuery search)
    {
        if (options.Batch == 0) return null;
        search(queries.Take(options.Batch).ToArray());
        var clock = Stopwatch.StartNew();
        for (var start = 0; start < queries.Length; start += options.Batch)
            search(queries.AsSpan(start, Math.Min(options.Batch, queries.Length - start)).ToArray());
        return queries.Length / clock.Elapsed.TotalSeconds;
    }

    private static ScoredImage[] Scored(IReadOnlyList<SearchHit> hits)
    {
        var scored = new ScoredImage[hits.Count];
        for (var i = 0; i < scored.Length; i++) scored[i] = new ScoredImage(hits[i].ImageId, hits[i].Score);
        return scored;
    }

    private static string Digest(ScoredImage[][] ranked)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        Span<byte> buffer = stackalloc byte[12];
        foreach (var list in ranked)
        {
            foreach (var hit in list)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(buffer, hit.ImageId);
                System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(buffer[8..], hit.Score);
                hash.AppendData(buffer);
            }
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(buffer, -1);
            hash.AppendData(buffer[..4]);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
    }

    /// <summary>Size of the trie as stored and shipped (<see cref="VokenTrie.WriteTo"/>): node arrays, leaf ranges, image ids.</summary>
    private static long SerializedBytes(VokenTrie trie)
    {
        using var stream = new MemoryStream();
        trie.WriteTo(stream);
        return stream.Length;
    }

    private JsonObject ToJson(MethodRun run, double? batchedQps, double bytesPerImage) => new()
    {
        ["qps"] = Math.Round(run.Latency.QueriesPerSecond, 2),
        ["p50_ms"] = Math.Round(run.Latency.P50Ms, 3),
        ["p90_ms"] = Math.Round(run.Latency.P90Ms, 3),
        ["p99_ms"] = Math.Round(run.Latency.P99Ms, 3),
        ["mean_ms"] = Math.Round(run.Latency.MeanMs, 3),
        ["max_ms"] = Math.Round(run.Latency.MaxMs, 3),
        ["bytes_per_image"] = Math.Round(bytesPerImage, 2),
        [Invariant($"r{options.K}")] = Math.Round(run.RecallAtK, 4),
        ["managed_alloc_bytes_per_query"] = Math.Round(run.ManagedBytesPerQuery, 0),
        ["results_sha256"] = run.ResultsHash,
        ["batched_qps"] = batchedQps is { } qps ? Math.Round(qps, 2) : null,
    };

    private string Width() => options.LevelBeams is { } widths ? "level beams " + string.Join(",", widths) : Invariant($"beam {options.Beam}");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
