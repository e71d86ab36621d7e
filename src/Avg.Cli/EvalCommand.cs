using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Avg.Data;
using Avg.Models.Pipeline;
using Avg.Retrieval;

namespace Avg.Cli;

/// <summary>`avg eval`: Recall@1/5/10 and throughput of AVG bundles and the two-tower baseline, as the eval JSON.</summary>
internal static class EvalCommand
{
    public static Command Create(CliContext context)
    {
        var bundles = new Option<string[]>("--bundle") { Description = "Model bundle(s); several (ablations) give one combined report. The first also gives two_tower.", Required = true, AllowMultipleArgumentsPerToken = true };
        var data = new Option<string>("--data") { Description = "Dataset folder (with dataset.json) or Karpathy JSON file.", Required = true };
        var imageRoot = DatasetArguments.ImageRootOption();
        var split = new Option<string>("--split") { Description = "Split to index and query: test or val.", DefaultValueFactory = _ => "test" };
        var beam = new Option<int?>("--beam") { Description = "Beam size b (paper: 20–30). Default: each bundle's own (20; 80 for bundles of the pretrained encoder's default recipe)." };
        var levelBeams = new Option<string?>("--level-beams") { Description = "Prefixes kept after each voken level instead of --beam at every level, e.g. 20,40,20,10 (docs/training.md: a wider second level recovers most of a beam's search error)." };
        var sweep = new Option<string?>("--beam-sweep") { Description = "Also evaluate these beams on the first bundle, e.g. 1,5,10,20,30 (paper Table 7)." };
        var balanced = new Option<bool>("--balanced") { Description = "Index with balanced assignment of the last voken, so fewer images share a sequence (docs/training.md)." };
        var diagnostics = new Option<bool>("--diagnostics") { Description = "Also report where AVG loses recall: dense search over decoded vokens, and prefix hits per level." };
        var exhaustive = new Option<bool>("--exhaustive") { Description = "Also rank by scoring every sequence of the index (no beam; ~7 queries/s on a 1,000-image split, ~50× slower than beam 20): the generator's ranking without search error." };
        var normalization = new Option<string>("--normalization") { Description = "Beam search step log-probabilities: over all vokens, the model's own (full), or renormalised over the vokens the trie allows (allowed).", DefaultValueFactory = _ => "full" };
        var preset = new Option<string>("--preset") { Description = $"Named search settings behind those not given: default (the best measured on val: prior weight {VokenPrior.DefaultWeight.ToString(CultureInfo.InvariantCulture)} where the bundle records train frequencies) or paper (the paper's score).", DefaultValueFactory = _ => "default" };
        var priorWeight = new Option<double?>("--prior-weight") { Description = $"Divide the train frequency of each voken out of the search score at this weight α (score − α·log P_train); 0 is the paper's score. Default: the preset's ({VokenPrior.DefaultWeight.ToString(CultureInfo.InvariantCulture)}, or 0 with --preset paper)." };
        var collisionWeight = new Option<double?>("--collision-weight") { Description = "w of the collision ranking for the *_ranked figures of bundles with fine codes: images of the leaves reached ranked by score + w·(query·reconstructed image). Default: each bundle's own (30; 100 for the pretrained encoder's default recipe)." };
        var collisionSweep = new Option<string?>("--collision-sweep") { Description = "Also evaluate these collision-ranking weights on the first bundle, e.g. 0,1,5,10,20,50." };
        var json = new Option<string?>("--json") { Description = "Write the report to this file." };
        var imageFeatures = new Option<string?>("--image-features") { Description = "Precomputed image vectors, for bundles trained on features." };
        var captionFeatures = new Option<string?>("--caption-features") { Description = "Precomputed caption vectors, for bundles trained on features." };
        var device = new Option<string>("--device") { Description = "auto, cpu or cuda[:N].", DefaultValueFactory = _ => "auto" };
        var threads = new Option<int>("--threads") { Description = "CPU threads for model work (0 = all cores).", DefaultValueFactory = _ => 0 };

        var command = new Command("eval", "Evaluate bundles on a split: index = its images, queries = all their captions.");
        foreach (var option in new Option[] { bundles, data, imageRoot, split, beam, levelBeams, sweep, balanced, diagnostics, exhaustive, normalization, preset, priorWeight, collisionWeight, collisionSweep, json, imageFeatures, captionFeatures, device, threads })
            command.Options.Add(option);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new EvaluationOptions
            {
                Split = parse.GetValue(split) switch
                {
                    "test" => Split.Test,
                    "val" => Split.Val,
                    "train" => Split.Train,
                    var other => throw new AvgException($"--split '{other}': expected test, val or train"),
                },
                Beam = parse.GetValue(beam),
                LevelBeams = ParseList(parse.GetValue(levelBeams), "--level-beams") is { Count: > 0 } widths ? widths : null,
                BeamSweep = ParseList(parse.GetValue(sweep), "--beam-sweep"),
                ImageFeatures = parse.GetValue(imageFeatures),
                CaptionFeatures = parse.GetValue(captionFeatures),
                Balanced = parse.GetValue(balanced),
                Diagnostics = parse.GetValue(diagnostics),
                Exhaustive = parse.GetValue(exhaustive),
                Normalization = StepNormalizationNames.Parse(parse.GetValue(normalization), "--normalization"),
                PriorWeight = parse.GetValue(priorWeight),
                Preset = SearchPresets.Parse(parse.GetValue(preset), "--preset"),
                CollisionWeight = parse.GetValue(collisionWeight),
                CollisionSweep = ParseWeights(parse.GetValue(collisionSweep), "--collision-sweep"),
            };
            if (options.CollisionWeight is { } w && !SearchOptions.IsValidCollisionWeight(w)) throw new AvgException($"--collision-weight must be a number ≥ 0, got {w.ToString(CultureInfo.InvariantCulture)}");
            if (options.PriorWeight is { } alpha && !VokenPrior.IsValidWeight(alpha)) throw new AvgException($"--prior-weight must be a number ≥ 0, got {alpha.ToString(CultureInfo.InvariantCulture)}");
            if (options.Beam < 1) throw new AvgException($"--beam must be at least 1, got {options.Beam}");
            var dataset = DatasetArguments.Load(parse.GetValue(data)!, parse.GetValue(imageRoot));
            if (options.ImageFeatures is null) DatasetArguments.CheckImagesExist(dataset, [.. dataset.InSplit(options.Split)]);
            var report = await EvaluateAsync(context, parse.GetValue(bundles)!, dataset, options, parse.GetValue(device)!, parse.GetValue(threads), cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json) is { } path)
            {
                await File.WriteAllTextAsync(path, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), cancellationToken).ConfigureAwait(false);
                await context.Output.WriteLineAsync($"report written to {path}").ConfigureAwait(false);
            }
            return 0;
        });
        return command;
    }

    /// <summary>Loads the bundles, evaluates with progress, prints the recall table; shared with `avg demo`.</summary>
    internal static async Task<JsonObject> EvaluateAsync(CliContext context, IReadOnlyList<string> bundlePaths, KarpathyDataset dataset,
        EvaluationOptions options, string device, int threads, CancellationToken cancellationToken)
    {
        var models = bundlePaths.Select(b => AvgModel.Load(b, device, threads)).ToList();
        try
        {
            var report = await ProgressDisplay.RunAsync(context, progress => new Evaluator(options, progress).Run(models, dataset), cancellationToken).ConfigureAwait(false);
            await context.Output.WriteAsync(FormatTable(report)).ConfigureAwait(false);
            return report;
        }
        finally
        {
            foreach (var model in models) model.Dispose();
        }
    }

    internal static string FormatTable(JsonObject report)
    {
        var c = CultureInfo.InvariantCulture;
        var lines = new List<string>
        {
            string.Create(c, $"{report["dataset"]} {report["split"]}: {report["images"]} images, {report["queries"]} queries, {(report["level_beams"] is JsonArray widths ? "level beams " + string.Join(",", widths) : "beam " + report["beam"])}{(report["collision_weight"] is { } w ? ", collision weight " + w : "")}{(report["prior_weight"]?.GetValue<double>() is > 0 and var a ? string.Create(c, $", prior weight {a}") : "")}{(report["preset"]?.GetValue<string>() is "paper" ? ", preset paper" : "")}"),
            string.Create(c, $"  {"method",-24} {"R@1",6} {"R@5",6} {"R@10",6} {"queries/s",10}"),
        };
        foreach (var (name, value) in report["methods"]!.AsObject())
            lines.Add(string.Create(c, $"  {name,-24} {Percent(value!["r1"])} {Percent(value["r5"])} {Percent(value["r10"])} {value["qps"],10}"));
        if (report["beam_sweep"] is JsonObject sweep)
        {
            foreach (var (beam, value) in sweep)
                lines.Add(string.Create(c, $"  {"avg beam " + beam,-24} {Percent(value!["r1"])} {Percent(value["r5"])} {Percent(value["r10"])} {value["qps"],10}"));
        }
        if (report["exhaustive"] is JsonObject all)
            lines.Add(string.Create(c, $"  {"avg, every sequence",-24} {Percent(all["r1"])} {Percent(all["r5"])} {Percent(all["r10"])} {all["qps"],10}"));
        if (report["diagnostics"] is JsonObject diagnostics)
        {
            var dense = diagnostics["decoded_dense"]!;
            lines.Add(string.Create(c, $"  {"dense, decoded vokens",-24} {Percent(dense["r1"])} {Percent(dense["r5"])} {Percent(dense["r10"])}"));
            var levels = diagnostics["prefix_in_top10"]!.AsArray().Select(v => Percent(v).Trim() + " %");
            lines.Add($"  image's prefix in the top 10, level 1..M: {string.Join(", ", levels)}");
        }
        if (report["tokenizer"] is JsonObject tok)
            lines.Add(string.Create(c, $"  tokenizer: {tok["codes_used"]}/{tok["codebook_size"]} codes used, collision rate {(double)tok["collision_rate"]!:P1}{(tok["balanced"]?.GetValue<bool>() == true ? " (balanced)" : "")}"));
        return string.Join(Environment.NewLine, lines) + Environment.NewLine;
    }

    private static string Percent(JsonNode? value) => string.Create(CultureInfo.InvariantCulture, $"{(double)value! * 100,6:F1}");

    internal static List<double> ParseWeights(string? text, string option)
    {
        if (string.IsNullOrWhiteSpace(text)) return [];
        return text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(part =>
            double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) && v >= 0
                ? v
                : throw new AvgException($"{option}: '{part}' is not a number ≥ 0")).ToList();
    }

    internal static List<int> ParseList(string? text, string option)
    {
        if (string.IsNullOrWhiteSpace(text)) return [];
        return text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(part =>
            int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0
                ? v
                : throw new AvgException($"{option}: '{part}' is not a positive integer")).ToList();
    }
}
