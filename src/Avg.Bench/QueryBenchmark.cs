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
/// queries, at several index sizes, in one run on one machine (docs/design.md §4 "Evaluation").
/// </summary>
public sealed class QueryBenchmark
{
    // R@10 is reported whenever k ≥ 10, whatever k is, so runs with different --k compare.
    private const int RecallDepth = 10;

    private readonly QueryBenchmarkOptions _options;
    private readonly TextWriter _log;

    // --beam and --collision-weight, or the bundle's recorded defaults where not given (set once the bundle is loaded).
    private int _beam;
    private double _collisionWeight;

    public QueryBenchmark(QueryBenchmarkOptions options, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        _options = options.Validate();
        _log = log;
    }

    /// <summary>Runs every size and returns the report (the JSON the command prints).</summary>
    public JsonObject Run()
    {
        using var model = AvgModel.Load(_options.Bundle, _options.Device, _options.Threads);
        if (_options.LevelBeams is { } widths && widths.Count != model.Config.Levels)
            throw new AvgException(Invariant($"--level-beams gives {widths.Count} widths but {_options.Bundle} makes sequences of {model.Config.Levels} vokens: give one width per level"));
        _beam = _options.Beam ?? model.Config.SearchOrStandard.Beam;
        _collisionWeight = _options.CollisionWeight ?? model.Config.SearchOrStandard.CollisionWeight;
        var largest = _options.LargestSize;
        var images = ShapesIndexImages.Ensure(_options.Cache, _options.Seed, model.Config.ImageSize, largest, _log);
        var vectors = images.Encode(model, largest, _log, out var encodeRate);
        var width = vectors.Length / largest;
        var clock = Stopwatch.StartNew();
        var vokens = model.Tokenize(vectors);
        var tokenizeSeconds = clock.Elapsed.TotalSeconds;
        _log.WriteLine(Invariant($"tokenized {largest} images in {tokenizeSeconds:F1}s"));
        // The collision ranking's fine codes, when the bundle has them: the same index plus L bytes per image.
        ScrambledIds.FineCodes? fine = null;
        if (model.CollisionRankingUnavailable is { } why)
        {
            _log.WriteLine($"avg_ranked skipped: {why}");
        }
        else if (_collisionWeight <= 0)
        {
            _log.WriteLine($"avg_ranked skipped: {_options.Bundle} records collision weight 0 (ranking off); give --collision-weight to measure it");
        }
        else
        {
            clock.Restart();
            fine = new ScrambledIds.FineCodes(new RowFineCodes(model.FineCodes(vectors, vokens), model.Fine!.Levels));
            _log.WriteLine(Invariant($"fine codes of {largest} images in {clock.Elapsed.TotalSeconds:F1}s"));
        }

        var (queries, truth) = PickQueries(images);
        var prior = model.SearchPrior(_options.PriorWeight);
        var ids = Enumerable.Range(0, largest).Select(ScrambledIds.IdOf).ToArray();
        var sizes = new JsonArray();
        var avgP50 = new List<double>();
        var rankedP50 = new List<double>();
        var twoTowerP50 = new List<double>();
        var hnswP50 = new List<double>();
        // Sizes are prefixes of one image list, so one HNSW index grows from size to size: inserting rows 0..n−1 in
        // order is the same work as building the n-image index afresh, and build_s adds up to that.
        using var hnswIndex = new HnswImageIndex(width, _options.Hnsw);
        var hnswBuildSeconds = 0.0;
        foreach (var n in _options.Sizes.Distinct().Order())
        {
            clock.Restart();
            // Balancing depends on the whole indexed set, so each size is balanced on its own.
            var indexVokens = _options.Balanced ? model.Tokenizer.EncodeBalanced(vectors[..(n * width)]) : vokens[..(n * model.Config.Levels)];
            var trie = VokenTrie.Build(ids.AsSpan(0, n), indexVokens, model.Config.Levels, model.Config.CodebookSize);
            var trieSeconds = clock.Elapsed.TotalSeconds;
            clock.Restart();
            var exact = new ExactDotProductSearch(vectors.AsSpan(0, n * width), width);
            var exactSeconds = clock.Elapsed.TotalSeconds;
            _log.WriteLine(Invariant($"[{n} images] hnsw: inserting images {hnswIndex.Count}..{n - 1}"));
            clock.Restart();
            hnswIndex.Add(vectors.AsSpan((int)hnswIndex.Count * width, (n - (int)hnswIndex.Count) * width));
            hnswBuildSeconds += clock.Elapsed.TotalSeconds;
            using var searcher = model.CreateSearcher(trie, new SearchOptions { Beam = _beam, LevelBeams = _options.LevelBeams, K = _options.K, Prior = prior });

            _log.WriteLine(Invariant($"[{n} images] avg: {_options.Queries} single-stream queries at {Width()}"));
            var avg = SingleStream(queries, truth, q => Scored(searcher.Search([q])[0]));
            var avgBatched = Batched(queries, batch => searcher.Search(batch).Select(Scored).ToArray());
            MethodRun? ranked = null;
            double? rankedBatched = null;
            if (fine is not null)
            {
                using var rankingSearcher = model.CreateSearcher(trie, new SearchOptions
                {
                    Beam = _beam, LevelBeams = _options.LevelBeams, K = _options.K, Prior = prior, CollisionWeight = _collisionWeight,
                }, fine);
                _log.WriteLine(Invariant($"[{n} images] avg_ranked: {_options.Queries} single-stream queries, collision weight {_collisionWeight}"));
                ranked = SingleStream(queries, truth, q => Scored(rankingSearcher.Search([q])[0]));
                rankedBatched = Batched(queries, batch => rankingSearcher.Search(batch).Select(Scored).ToArray());
            }
            _log.WriteLine(Invariant($"[{n} images] two_tower: {_options.Queries} single-stream queries"));
            var twoTower = SingleStream(queries, truth, q => exact.Search(model.EncodeTexts([q]), _options.K));
            var twoTowerBatched = Batched(queries, batch =>
                exact.SearchBatch(model.EncodeTexts(batch), _options.K));
            _log.WriteLine(Invariant($"[{n} images] hnsw: {_options.Queries} single-stream queries"));
            var hnsw = SingleStream(queries, truth, q => hnswIndex.Search(model.EncodeTexts([q]), _options.K));
            var hnswBatched = Batched(queries, batch => SearchRows(hnswIndex, model.EncodeTexts(batch), width));

            var row = new JsonObject
            {
                ["images"] = n,
                ["trie_nodes"] = trie.NodeCount,
                ["distinct_sequences"] = trie.SequenceCount,
                ["collision_rate"] = Math.Round(trie.CollisionRate, 4),
                ["avg"] = ToJson(avg, avgBatched, (double)SerializedBytes(trie) / n, trieSeconds),
                ["avg_ranked"] = ranked is null ? null : ToJson(ranked, rankedBatched, ((double)SerializedBytes(trie) / n) + model.Fine!.Levels, trieSeconds),
                ["two_tower"] = ToJson(twoTower, twoTowerBatched, width * sizeof(float), exactSeconds),
                ["hnsw"] = ToJson(hnsw, hnswBatched, (double)hnswIndex.SerializedBytes() / n, hnswBuildSeconds),
                ["avg_over_two_tower_qps"] = Math.Round(avg.Latency.QueriesPerSecond / twoTower.Latency.QueriesPerSecond, 3),
                ["avg_over_hnsw_qps"] = Math.Round(avg.Latency.QueriesPerSecond / hnsw.Latency.QueriesPerSecond, 3),
                ["avg_ranked_over_two_tower_qps"] = ranked is null ? null : Math.Round(ranked.Latency.QueriesPerSecond / twoTower.Latency.QueriesPerSecond, 3),
            };
            sizes.Add(row);
            if (ranked is not null)
            {
                rankedP50.Add(ranked.Latency.P50Ms);
                _log.WriteLine(Invariant($"[{n} images] {Line("avg_ranked", ranked)}"));
            }

            _log.WriteLine(Invariant($"[{n} images] {Line("avg", avg)} | {Line("two_tower", twoTower)} | {Line("hnsw", hnsw)} (built in {hnswBuildSeconds:F1}s)"));
            avgP50.Add(avg.Latency.P50Ms);
            twoTowerP50.Add(twoTower.Latency.P50Ms);
            hnswP50.Add(hnsw.Latency.P50Ms);
        }

        return new JsonObject
        {
            ["bundle"] = Path.GetFullPath(_options.Bundle),
            ["method"] = model.Config.Method,
            ["codebook_size"] = model.Config.CodebookSize,
            ["levels"] = model.Config.Levels,
            ["embedding_dim"] = width,
            ["beam"] = _beam,
            ["level_beams"] = _options.LevelBeams is { } levelBeams ? new JsonArray(levelBeams.Select(w => (JsonNode)w).ToArray()) : null,
            ["k"] = _options.K,
            ["queries"] = _options.Queries,
            ["warmup"] = _options.Warmup,
            ["batch"] = _options.Batch,
            ["threads"] = torch.get_num_threads(),
            ["seed"] = _options.Seed,
            ["balanced"] = _options.Balanced,
            ["prior_weight"] = prior?.Weight ?? 0,
            ["collision_weight"] = fine is null ? null : _collisionWeight,
            ["fine_levels"] = model.Fine?.Levels ?? 0,
            ["hnsw_options"] = new JsonObject
            {
                ["library"] = HnswImageIndex.Library,
                ["metric"] = "ip",
                ["scalar"] = "f32",
                ["connectivity"] = _options.Hnsw.Connectivity,
                ["expansion_add"] = _options.Hnsw.ExpansionAdd,
                ["expansion_search"] = _options.Hnsw.ExpansionSearch,
                ["simd"] = hnswIndex.HardwareAcceleration,
            },
            ["sizes"] = sizes,
            ["flatness"] = Growth(avgP50),
            ["avg_ranked_growth"] = rankedP50.Count > 0 ? Growth(rankedP50) : null,
            ["two_tower_growth"] = Growth(twoTowerP50),
            ["hnsw_growth"] = Growth(hnswP50),
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
    /// <param name="RecallAt10">The caption's own image in the first 10 results; null when <c>--k</c> is below 10.</param>
    private sealed record MethodRun(LatencySummary Latency, double RecallAtK, double RecallAt1, double? RecallAt5, double? RecallAt10, double ManagedBytesPerQuery, string ResultsHash);

    /// <summary>
    /// Queries the smallest index's images by one of their own captions, spread evenly over them and over the five
    /// captions, so every size holds every query's image and both methods get the same list.
    /// </summary>
    private (string[] Queries, long[] Truth) PickQueries(ShapesIndexImages images)
    {
        var smallest = _options.SmallestSize;
        var queries = new string[_options.Queries];
        var truth = new long[_options.Queries];
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
        for (var i = 0; i < _options.Warmup; i++) search(queries[i % queries.Length]);
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
        var recall = Recall.AtK(ids, truth, _options.K);
        double? recallAt10 = _options.K >= RecallDepth ? Recall.AtK(ids, truth, RecallDepth) : null;
        double? recallAt5 = _options.K >= 5 ? Recall.AtK(ids, truth, 5) : null;
        return new MethodRun(LatencySummary.FromTicks(ticks), recall, Recall.AtK(ids, truth, 1), recallAt5, recallAt10, (double)allocated / queries.Length, Digest(ranked));
    }

    /// <summary>Queries per second when <see cref="QueryBenchmarkOptions.Batch"/> queries are searched together; null when skipped.</summary>
    private double? Batched(string[] queries, BatchQuery search)
    {
        if (_options.Batch == 0) return null;
        search(queries.Take(_options.Batch).ToArray());
        var clock = Stopwatch.StartNew();
        for (var start = 0; start < queries.Length; start += _options.Batch)
            search(queries.AsSpan(start, Math.Min(_options.Batch, queries.Length - start)).ToArray());
        return queries.Length / clock.Elapsed.TotalSeconds;
    }

    /// <summary>HNSW has no batched search in the wrapper: a batch is its rows searched in turn (text encoding is batched).</summary>
    private ScoredImage[][] SearchRows(HnswImageIndex index, float[] queries, int width)
    {
        var results = new ScoredImage[queries.Length / width][];
        for (var q = 0; q < results.Length; q++) results[q] = index.Search(queries[(q * width)..((q + 1) * width)], _options.K);
        return results;
    }

    private static ScoredImage[] Scored(IReadOnlyList<SearchHit> hits)
    {
        var scored = new ScoredImage[hits.Count];
        // Back from the index's scrambled ids to rows, the ids two-tower and HNSW report.
        for (var i = 0; i < scored.Length; i++) scored[i] = new ScoredImage(ScrambledIds.RowOf(hits[i].ImageId), hits[i].Score);
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

    private JsonObject ToJson(MethodRun run, double? batchedQps, double bytesPerImage, double buildSeconds) => new()
    {
        ["qps"] = Math.Round(run.Latency.QueriesPerSecond, 2),
        ["p50_ms"] = Math.Round(run.Latency.P50Ms, 3),
        ["p90_ms"] = Math.Round(run.Latency.P90Ms, 3),
        ["p99_ms"] = Math.Round(run.Latency.P99Ms, 3),
        ["mean_ms"] = Math.Round(run.Latency.MeanMs, 3),
        ["max_ms"] = Math.Round(run.Latency.MaxMs, 3),
        ["bytes_per_image"] = Math.Round(bytesPerImage, 2),
        [Invariant($"r{_options.K}")] = Math.Round(run.RecallAtK, 4),
        ["r_at_1"] = Math.Round(run.RecallAt1, 4),
        ["r_at_5"] = run.RecallAt5 is { } r5 ? Math.Round(r5, 4) : null,
        ["r_at_10"] = run.RecallAt10 is { } r ? Math.Round(r, 4) : null,
        ["build_s"] = Math.Round(buildSeconds, 3),
        ["managed_alloc_bytes_per_query"] = Math.Round(run.ManagedBytesPerQuery, 0),
        ["results_sha256"] = run.ResultsHash,
        ["batched_qps"] = batchedQps is { } qps ? Math.Round(qps, 2) : null,
    };

    /// <summary>Latency at the largest size ÷ at the smallest: ≈ 1 when the cost does not grow with the image set.</summary>
    private static double Growth(List<double> p50s) => Math.Round(p50s[^1] / p50s[0], 3);

    private static string Line(string method, MethodRun run) =>
        Invariant($"{method} {run.Latency.QueriesPerSecond:F1} q/s p50 {run.Latency.P50Ms:F2} ms p99 {run.Latency.P99Ms:F2} ms R@10 {run.RecallAt10:F3}");

    private string Width() => _options.LevelBeams is { } widths ? "level beams " + string.Join(",", widths) : Invariant($"beam {_beam}");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
