using System.CommandLine;
using System.Globalization;
using Avg.Data;
using Avg.Models.Bundles;
using Avg.Models.Pipeline;
using Avg.Shapes;

namespace Avg.Cli;

/// <summary>
/// `avg demo`: the whole method on the built-in Shapes world in one command — generate the dataset, train all
/// stages, evaluate AVG against the two-tower baseline. Dataset and bundle are cached in the work folder and
/// reused when their settings match.
/// </summary>
internal static class DemoCommand
{
    /// <summary>A demo size: dataset and training budget.</summary>
    internal sealed record Preset(string Name, int Train, int Test, AvgTrainingOptions Training);

    internal static Preset Quick { get; } = new("quick", 2_000, 200, new AvgTrainingOptions
    {
        EncoderEpochs = 20, ImageChannels = [16, 32, 64, 128], TokenizerEpochs = 20, GeneratorEpochs = 8,
        GeneratorLayers = 2,
    });

    internal static Preset Standard { get; } = new("standard", 10_000, 1_000, new AvgTrainingOptions
    {
        EncoderEpochs = 12, ImageChannels = [16, 32, 64, 128], TokenizerEpochs = 30, GeneratorEpochs = 6,
    });

    public static Command Create(CliContext context)
    {
        var quick = new Option<bool>("--quick") { Description = "A smaller dataset and budget (about 3 minutes on 2 cores)." };
        var work = new Option<string>("--work") { Description = "Folder for the generated dataset and trained bundle (reused when present).", DefaultValueFactory = _ => Path.Combine(".cache", "avg-demo") };
        var fresh = new Option<bool>("--fresh") { Description = "Regenerate and retrain even when a cached dataset and bundle exist." };
        var json = new Option<string?>("--json") { Description = "Also write the evaluation report here." };
        var command = new Command("demo", "Generate a Shapes dataset, train AVG on it and compare AVG with two-tower search.") { quick, work, fresh, json };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var preset = parse.GetValue(quick) ? Quick : Standard;
            var root = Path.GetFullPath(Path.Combine(parse.GetValue(work)!, preset.Name));
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var dataset = await EnsureDatasetAsync(context, preset, Path.Combine(root, "data"), parse.GetValue(fresh), cancellationToken).ConfigureAwait(false);
            var bundle = Path.Combine(root, "bundle");
            if (parse.GetValue(fresh) || !IsUsable(bundle))
                await TrainCommand.TrainAsync(context, dataset, preset.Training, bundle, TrainingStage.All, null, cancellationToken).ConfigureAwait(false);
            else
                await context.Output.WriteLineAsync($"reusing trained bundle {bundle} (--fresh to retrain)").ConfigureAwait(false);
            var report = await EvalCommand.EvaluateAsync(context, [bundle], dataset, new EvaluationOptions(), "auto", 0, cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json) is { } path)
                await File.WriteAllTextAsync(path, report.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }), cancellationToken).ConfigureAwait(false);
            await context.Output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"demo ({preset.Name}) finished in {clock.Elapsed.TotalSeconds:F0}s")).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    private static async Task<KarpathyDataset> EnsureDatasetAsync(CliContext context, Preset preset, string folder, bool fresh, CancellationToken cancellationToken)
    {
        var json = Path.Combine(folder, KarpathyReader.DefaultFileName);
        if (!fresh && File.Exists(json))
        {
            var cached = KarpathyReader.Load(folder);
            if (cached.InSplit(Split.Train).Count() == preset.Train && cached.InSplit(Split.Test).Count() == preset.Test)
            {
                await context.Output.WriteLineAsync($"reusing Shapes dataset {folder}").ConfigureAwait(false);
                DatasetSummary.Of(cached).WriteTo(context.Output);
                return cached;
            }
        }
        var world = new ShapesWorld(new ShapesWorldOptions { Train = preset.Train, Val = preset.Test / 2, Test = preset.Test, Seed = 1 });
        var summary = await Task.Run(() => world.Generate(folder, overwrite: true, null, cancellationToken), cancellationToken).ConfigureAwait(false);
        await context.Output.WriteAsync(ShapesCommand.Describe(summary)).ConfigureAwait(false);
        return KarpathyReader.Load(folder);
    }

    private static bool IsUsable(string bundle)
    {
        try
        {
            ModelBundle.Open(bundle, BundleFiles.Generator);
            return true;
        }
        catch (AvgException)
        {
            return false;
        }
    }
}
