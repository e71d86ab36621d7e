using System.Diagnostics;
using System.Text.Json.Nodes;
using Avg.Data;
using Avg.Evaluation;
using Avg.Models.Encoders;
using Avg.Models.Encoders.Pretrained;
using Avg.Models.Tokenization;
using Avg.Retrieval;

namespace Avg.Models.Pipeline;

/// <summary>Evaluation settings; protocol as the paper: index = the split's images, queries = all their captions.</summary>
public sealed record EvaluationOptions
{
    public Split Split { get; init; } = Split.Test;

    /// <summary>Beam b for the headline figures (paper: 20–30); null for each bundle's own (<see cref="BundleConfig.Search"/>).</summary>
    public int? Beam { get; init; }

    /// <summary>
    /// Widths per voken level for the headline AVG figures in place of a uniform <see cref="Beam"/> (see
    /// <see cref="SearchOptions.LevelBeams"/>); null for the paper's uniform beam. The sweep stays uniform.
    /// </summary>
    public IReadOnlyList<int>? LevelBeams { get; init; }

    /// <summary>Extra beams for a Table 7 sweep, on the first bundle only; empty for none.</summary>
    public IReadOnlyList<int> BeamSweep { get; init; } = [];

    /// <summary>Queries searched together (beams of all of them batched in one decoder pass per step).</summary>
    public int QueryBatch { get; init; } = 32;

    /// <summary>Precomputed features (.npy) for bundles trained on features.</summary>
    public string? ImageFeatures { get; init; }

    public string? CaptionFeatures { get; init; }

    /// <summary>Index with balanced assignment of the last voken (fewer images sharing a sequence); see <see cref="Tokenization.AlignedTokenizer.EncodeBalanced"/>.</summary>
    public bool Balanced { get; init; }

    /// <summary>
    /// Also report where AVG loses recall (first bundle): dense search over the tokenizer's decoded vectors v̂ (what
    /// the vokens keep of v_i), and per level the share of queries whose image's prefix is among the top-10 hits.
    /// </summary>
    public bool Diagnostics { get; init; }

    /// <summary>
    /// Also rank the first bundle's queries by scoring every sequence of the index (no beam): the generator's own
    /// ranking without search error, next to the beam's. Costs about as many decoder rows per query as the index has
    /// inner trie nodes (7 queries/s against ~400 at beam 20 on a 1,000-image split, docs/training.md).
    /// </summary>
    public bool Exhaustive { get; init; }

    /// <summary>How beam search turns step logits into log-probabilities (default: the model's own, over all vokens).</summary>
    public StepNormalization Normalization { get; init; } = StepNormalization.FullVocabulary;

    /// <summary>
    /// w of the collision ranking for the "…_ranked" figures of bundles with fine codebooks (<see cref="SearchOptions.CollisionWeight"/>);
    /// null for each bundle's own (<see cref="BundleConfig.Search"/>).
    /// </summary>
    public double? CollisionWeight { get; init; }

    /// <summary>Extra collision-ranking weights to evaluate on the first bundle; empty for none.</summary>
    public IReadOnlyList<double> CollisionSweep { get; init; } = [];

    /// <summary>
    /// α of <see cref="VokenPrior"/> for every AVG bundle (a bundle that does not record its train frequencies is
    /// refused); null takes <see cref="Preset"/>'s, for the bundles that record them.
    /// </summary>
    public double? PriorWeight { get; init; }

    /// <summary>Named search settings behind every setting not given (<see cref="SearchPreset.Default"/>: the best measured on val).</summary>
    public SearchPreset Preset { get; init; }
}

/// <summary>One method's figures: recalls as fractions, and throughput of the batched evaluation run.</summary>
public sealed record MethodResult(double R1, double R5, double R10, double QueriesPerSecond);

/// <summary>Runs the evaluation protocol for one or more bundles plus the two-tower baseline, producing the eval JSON.</summary>
public sealed class Evaluator
{
    private readonly EvaluationOptions options;
    private readonly IProgress<TrainingProgress>? progress;

    public Evaluator(EvaluationOptions options, IProgress<TrainingProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options;
        this.progress = progress;
    }

    public JsonObject Run(IReadOnlyList<AvgModel> models, KarpathyDataset dataset)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(dataset);
        if (models.Count == 0) throw new AvgException("give at least one --bundle to evaluate");
        // The report keeps one entry per method: a second bundle of the same method would silently replace the first.
        if (models.GroupBy(m => m.Config.Method).FirstOrDefault(g => g.Count() > 1) is { } same)
            throw new AvgException($"{string.Join(" and ", same.Select(m => m.Bundle.Directory))} are both '{same.Key}' bundles and the report has one entry per method: evaluate them in separate runs");
        // Refuse a bundle without train voken frequencies before any of the slow work.
        if (options.PriorWeight is > 0 and var given) foreach (var model in models) model.VokenPrior(given);
        if (options.LevelBeams is { } widths && models.FirstOrDefault(m => m.Config.Levels != widths.Count) is { } other)
            throw new AvgException($"--level-beams gives {widths.Count} widths but {other.Bundle.Directory} makes sequences of {other.Config.Levels} vokens: give one width per level");
        var images = dataset.InSplit(options.Split).ToList();
        if (images.Count == 0) throw new AvgException($"{dataset.JsonPath}: no {options.Split.ToString().ToLowerInvariant()} images to evaluate on");
        var queries = new List<string>();
        var truth = new List<long>();
        var captionRows = new List<int>();
        for (var i = 0; i < images.Count; i++)
        {
            for (var c = 0; c < images[i].Captions.Count; c++)
            {
                queries.Add(images[i].Captions[c]);
                truth.Add(i);
                captionRows.Add(images[i].FirstCaption + c);
            }
        }

        var methods = new JsonObject();
        JsonObject? tokenizerStats = null;
        JsonObject? sweep = null;
        JsonObject? diagnostics = null;
        JsonObject? exhaustive = null;
        JsonObject? collisionSweep = null;
        byte[]? pixels = null;
        PrecomputedFeatures? features = null;
        (float[] Images, float[] Captions)? backboneRows = null;
        var first = true;
        int? reportBeam = null;
        double? reportWeight = null;
        foreach (var model in models)
        {
            var beam = options.Beam ?? model.Config.SearchOrStandard.Beam;
            var collisionWeight = options.CollisionWeight ?? model.Config.SearchOrStandard.CollisionWeight;
            reportBeam ??= beam;
            float[] imageVectors;
            float[]? queryVectors = null;
            if (model.Pretrained is { } pretrained)
            {
                // Backbone rows of the whole dataset from its feature cache (one backbone run per dataset), then the bundle's heads.
                backboneRows ??= pretrained.Backbones.ForDataset(dataset, progress);
                imageVectors = pretrained.Heads.ProjectImages(PrecomputedFeatures.GatherRows(backboneRows.Value.Images, ResNet18Backbone.Width, images.Select(i => i.Index).ToList()));
                if (first) queryVectors = pretrained.Heads.ProjectTexts(PrecomputedFeatures.GatherRows(backboneRows.Value.Captions, MiniLmBackbone.Width, captionRows));
            }
            else if (model.Config.UsesEncoder)
            {
                pixels ??= ImageDecoder.DecodeAll(dataset, images, model.Config.ImageSize, done => progress?.Report(new TrainingProgress("decode", 0, done, images.Count, 0)));
                imageVectors = model.EncodeImages(ImageData.FromBytes(pixels, images.Count, model.Config.ImageSize, model.Config.ImageSize));
                if (first) queryVectors = model.EncodeTexts(queries);
            }
            else
            {
                if (options.ImageFeatures is null || options.CaptionFeatures is null)
                    throw new AvgException($"{model.Bundle.Directory} was trained on precomputed features: give --image-features and --caption-features");
                features ??= PrecomputedFeatures.Load(dataset, options.ImageFeatures, options.CaptionFeatures);
                imageVectors = PrecomputedFeatures.GatherRows(features.Images, features.Width, images.Select(i => i.Index).ToList());
                if (first) queryVectors = PrecomputedFeatures.GatherRows(features.Captions, features.Width, captionRows);
            }

            var balanced = options.Balanced || model.Config.Training?.BalancedVokens == true;
            var vokens = balanced ? model.Tokenizer.EncodeBalanced(imageVectors) : model.Tokenize(imageVectors);
            var trie = VokenTrie.Build(Enumerable.Range(0, images.Count).Select(i => (long)i).ToArray(), vokens, model.Config.Levels, model.Config.CodebookSize);
            var prefixHits = first && options.Diagnostics ? new long[model.Config.Levels] : null;
            methods[model.Config.Method] = ToJson(SearchAll(model, trie, queries, truth, beam, vokens, prefixHits, levelBeams: options.LevelBeams));
            // What this bundle ranked with: the preset's α falls back to the paper's score for a bundle without train frequencies.
            methods[model.Config.Method]!["prior_weight"] = model.SearchPrior(options.PriorWeight, options.Preset)?.Weight ?? 0;
            methods[model.Config.Method]!["beam"] = beam;
            RowFineCodes? fine = null;
            if (model.CollisionRankingUnavailable is null)
            {
                fine = new RowFineCodes(model.FineCodes(imageVectors, vokens), model.Fine!.Levels);
                var ranked = ToJson(SearchAll(model, trie, queries, truth, beam, levelBeams: options.LevelBeams, collisionWeight: collisionWeight, fine: fine));
                ranked["beam"] = beam;
                ranked["collision_weight"] = collisionWeight;
                if (first) reportWeight = collisionWeight;
                methods[model.Config.Method + "_ranked"] = ranked;
            }
            if (first && fine is not null && options.CollisionSweep.Count > 0)
            {
                collisionSweep = [];
                foreach (var weight in options.CollisionSweep)
                    collisionSweep[weight.ToString(System.Globalization.CultureInfo.InvariantCulture)] = ToJson(SearchAll(model, trie, queries, truth, beam, levelBeams: options.LevelBeams, collisionWeight: weight, fine: fine));
            }
            if (first)
            {
                methods["two_tower"] = ToJson(TwoTower(imageVectors, queryVectors!, truth));
                if (prefixHits is not null)
                {
                    diagnostics = new JsonObject
                    {
                        ["decoded_dense"] = ToJson(TwoTower(model.Tokenizer.Decode(vokens), queryVectors!, truth)), // the search L2-normalises rows
                        ["prefix_in_top10"] = new JsonArray(prefixHits.Select(h => (JsonNode)Math.Round(h / (double)queries.Count, 4)).ToArray()),
                    };
                }
                var stats = VokenStatistics.Compute(vokens, model.Config.Levels);
                tokenizerStats = new JsonObject
                {
                    ["codebook_size"] = model.Config.CodebookSize,
                    ["levels"] = model.Config.Levels,
                    ["codes_used"] = stats.DistinctCodes,
                    ["codes_used_per_level"] = new JsonArray(stats.CodesUsedPerLevel.Select(c => (JsonNode)c).ToArray()),
                    ["perplexity_per_level"] = new JsonArray(stats.PerplexityPerLevel.Select(p => (JsonNode)Math.Round(p, 2)).ToArray()),
                    ["collision_rate"] = Math.Round(trie.CollisionRate, 4),
                    ["balanced"] = balanced,
                    ["distinct_sequences"] = trie.SequenceCount,
                };
                if (options.Exhaustive) exhaustive = ToJson(SearchAll(model, trie, queries, truth, beam, exhaustive: true));
                if (options.BeamSweep.Count > 0)
                {
                    sweep = [];
                    foreach (var width in options.BeamSweep)
                        sweep[width.ToString(System.Globalization.CultureInfo.InvariantCulture)] = ToJson(SearchAll(model, trie, queries, truth, width));
                }
            }
            first = false;
        }

        var report = new JsonObject
        {
            ["dataset"] = dataset.Name,
            ["split"] = options.Split.ToString().ToLowerInvariant(),
            ["images"] = images.Count,
            ["queries"] = queries.Count,
            ["beam"] = reportBeam,
            ["normalization"] = StepNormalizationNames.Name(options.Normalization),
            ["preset"] = options.Preset.Name(),
            ["prior_weight"] = options.PriorWeight ?? options.Preset.PriorWeight(),
            ["methods"] = methods,
            ["tokenizer"] = tokenizerStats,
        };
        if (reportWeight is not null) report["collision_weight"] = reportWeight;
        if (options.LevelBeams is { } levelBeams) report["level_beams"] = new JsonArray(levelBeams.Select(w => (JsonNode)w).ToArray());
        if (sweep is not null) report["beam_sweep"] = sweep;
        if (diagnostics is not null) report["diagnostics"] = diagnostics;
        if (exhaustive is not null) report["exhaustive"] = exhaustive;
        if (collisionSweep is not null) report["collision_sweep"] = collisionSweep;
        return report;
    }

    private MethodResult SearchAll(AvgModel model, VokenTrie trie, List<string> queries, List<long> truth, int beam, int[]? vokens = null, long[]? prefixHits = null, bool exhaustive = false, IReadOnlyList<int>? levelBeams = null, double? collisionWeight = null, IFineCodeLookup? fine = null)
    {
        var prior = model.SearchPrior(options.PriorWeight, options.Preset);
        using var searcher = model.CreateSearcher(trie, new SearchOptions { Beam = beam, LevelBeams = levelBeams, K = 10, Normalization = options.Normalization, Prior = prior, CollisionWeight = collisionWeight }, fine);
        var ranked = new List<long[]>(queries.Count);
        var levels = model.Config.Levels;
        var clock = Stopwatch.StartNew();
        // Exhaustive scoring expands every node of a level for every query at once: a few queries per pass keep it in memory.
        var queryBatch = exhaustive ? Math.Min(options.QueryBatch, 4) : options.QueryBatch;
        for (var start = 0; start < queries.Count; start += queryBatch)
        {
            var batch = queries.GetRange(start, Math.Min(queryBatch, queries.Count - start));
            var results = exhaustive ? searcher.SearchExhaustive(batch) : searcher.Search(batch);
            for (var q = 0; q < results.Length; q++)
            {
                ranked.Add(results[q].Select(h => h.ImageId).ToArray());
                if (prefixHits is null) continue;
                // The longest prefix of the image's sequence that some hit shares counts at every level up to it.
                var target = vokens.AsSpan((int)truth[start + q] * levels, levels);
                var longest = 0;
                foreach (var hit in results[q]) longest = Math.Max(longest, hit.Vokens.AsSpan().CommonPrefixLength(target));
                for (var level = 0; level < longest; level++) prefixHits[level]++;
            }
            progress?.Report(new TrainingProgress(exhaustive ? $"eval {model.Config.Method} exhaustive" : $"eval {model.Config.Method} b={beam}", 0, start + batch.Count, queries.Count, 0));
        }
        return Score(ranked, truth, queries.Count / clock.Elapsed.TotalSeconds);
    }

    private static MethodResult TwoTower(float[] imageVectors, float[] queryVectors, List<long> truth)
    {
        var width = queryVectors.Length / truth.Count;
        var search = new ExactDotProductSearch(imageVectors, width, null);
        var clock = Stopwatch.StartNew();
        var results = search.SearchBatch(queryVectors, 10);
        var qps = truth.Count / clock.Elapsed.TotalSeconds;
        return Score(results.Select(r => r.Select(s => s.ImageId).ToArray()).ToList(), truth, qps);
    }

    private static MethodResult Score(List<long[]> ranked, List<long> truth, double qps)
    {
        var recalls = Recall.AtKs(ranked, truth, Recall.PaperLevels);
        return new MethodResult(recalls[0], recalls[1], recalls[2], qps);
    }

    private static JsonObject ToJson(MethodResult r) => new()
    {
        ["r1"] = Math.Round(r.R1, 4),
        ["r5"] = Math.Round(r.R5, 4),
        ["r10"] = Math.Round(r.R10, 4),
        ["qps"] = Math.Round(r.QueriesPerSecond, 1),
    };


}
