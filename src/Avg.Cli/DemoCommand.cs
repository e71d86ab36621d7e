using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Avg.Client;
using Avg.Cluster.Hosting;
using Avg.Data;
using Avg.Evaluation;
using Avg.Models.Bundles;
using Avg.Models.Pipeline;
using Avg.Shapes;

namespace Avg.Cli;

/// <summary>
/// `avg demo`: the whole product on the built-in Shapes world in one command — generate the dataset, train all
/// stages, evaluate AVG against the two-tower baseline, start the embedded single-silo cluster, index the test split
/// through the HTTP ingest path, query it over HTTP, and serve the pages until stopped. Dataset and bundle are cached
/// in the work folder and reused when their settings match.
/// </summary>
internal static class DemoCommand
{
    /// <summary>A demo size: dataset and training budget.</summary>
    internal sealed record Preset(string Name, int Train, int Test, AvgTrainingOptions Training);

    // N = 64, M = 3: the N/M sweep on the quick set (docs/training.md) — a codebook much larger than the image set
    // makes the first voken barely predictable from text (R@10 25.2 at N = 256 vs 35.2 at N = 64, same budget).
    // Generator learning rate 2e-3 and two-tower distillation: R@10 47.0 → 48.8 → 55.1 on the quick set (docs/training.md).
    internal static Preset Quick { get; } = new("quick", 2_000, 200, new AvgTrainingOptions
    {
        EncoderEpochs = 20, ImageChannels = [16, 32, 64, 128], TokenizerEpochs = 20, GeneratorEpochs = 8,
        GeneratorLayers = 2, CodebookSize = 64, Levels = 3, GeneratorLearningRate = 2e-3, DistillWeight = 0.8,
    });

    internal static Preset Standard { get; } = new("standard", 10_000, 1_000, new AvgTrainingOptions
    {
        EncoderEpochs = 12, ImageChannels = [16, 32, 64, 128], TokenizerEpochs = 30, GeneratorEpochs = 6,
        CodebookSize = 64, Levels = 3, GeneratorLearningRate = 2e-3, DistillWeight = 0.8,
    });

    public static Command Create(CliContext context)
    {
        var quick = new Option<bool>("--quick") { Description = "A smaller dataset and budget (about 3 minutes on 2 cores)." };
        var work = new Option<string>("--work") { Description = "Folder for the generated dataset and trained bundle (reused when present).", DefaultValueFactory = _ => Path.Combine(".cache", "avg-demo") };
        var fresh = new Option<bool>("--fresh") { Description = "Regenerate and retrain even when a cached dataset and bundle exist." };
        var json = new Option<string?>("--json") { Description = "Also write the evaluation report here." };
        var noServe = new Option<bool>("--no-serve") { Description = "Exit after the numbers instead of serving the search page." };
        var port = new Option<int>("--port") { Description = "HTTP port of the embedded silo (0 = any free port).", DefaultValueFactory = _ => 8080 };
        var command = new Command("demo", "Generate a Shapes dataset, train AVG, compare it with two-tower search, and serve it from an embedded cluster.")
        {
            quick, work, fresh, json, noServe, port,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var preset = parse.GetValue(quick) ? Quick : Standard;
            var root = Path.GetFullPath(Path.Combine(parse.GetValue(work)!, preset.Name));
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var dataset = await EnsureDatasetAsync(context, preset, Path.Combine(root, "data"), parse.GetValue(fresh), cancellationToken).ConfigureAwait(false);
            var bundle = Path.Combine(root, "bundle");
            if (parse.GetValue(fresh) || !IsUsable(bundle, preset))
            {
                await TrainCommand.TrainAsync(context, dataset, preset.Training, bundle, TrainingStage.All, null, cancellationToken).ConfigureAwait(false);
            }
            else if (!HasFineCodebooks(bundle))
            {
                // A bundle cached before fine codes existed: fit them (seconds) rather than retrain it.
                await context.Output.WriteLineAsync($"adding fine codebooks to the cached bundle {bundle}").ConfigureAwait(false);
                await TrainCommand.TrainAsync(context, dataset, preset.Training, bundle, TrainingStage.Fine, bundle, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await context.Output.WriteLineAsync($"reusing trained bundle {bundle} (--fresh to retrain)").ConfigureAwait(false);
            }
            var report = await EvalCommand.EvaluateAsync(context, [bundle], dataset, new EvaluationOptions(), "auto", 0, cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json) is { } path)
                await File.WriteAllTextAsync(path, report.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }), cancellationToken).ConfigureAwait(false);
            var requestedPort = parse.GetValue(port);
            var ports = LoopbackPorts.Take(3);
            var silo = new AvgSiloOptions
            {
                Bundle = bundle,
                HttpPort = requestedPort == 0 ? ports[0] : requestedPort,
                SiloPort = ports[1],
                GatewayPort = ports[2],
                // Pictures on the search page: uri = "images/000123.png", served by its last segment from here.
                ImageRoot = Path.Combine(dataset.ImageRoot, "images"),
            };
            await using var app = await ServeCommand.StartAsync(silo, [], cancellationToken).ConfigureAwait(false);
            var endpoint = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{silo.HttpPort}/"));
            await ServeAndMeasureAsync(context, dataset, endpoint, cancellationToken).ConfigureAwait(false);
            await context.Output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"demo ({preset.Name}) finished in {clock.Elapsed.TotalSeconds:F0}s")).ConfigureAwait(false);
            if (!parse.GetValue(noServe))
            {
                await context.Output.WriteLineAsync($"search page {endpoint}  ·  shard dashboard {endpoint}shards.html  ·  Orleans dashboard {endpoint}dashboard  ·  metrics {endpoint}metrics — Ctrl+C to stop").ConfigureAwait(false);
                await ServeCommand.WaitForStopAsync(app, cancellationToken).ConfigureAwait(false);
            }
            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    /// <summary>
    /// Indexes the test split through POST /v1/images (the real ingest path: silo → tokenization shards → trie
    /// partitions), then asks every test caption through POST /v1/search and prints the cluster's Recall@1/5/10.
    /// </summary>
    private static async Task ServeAndMeasureAsync(CliContext context, KarpathyDataset dataset, Uri endpoint, CancellationToken cancellationToken)
    {
        var client = new AvgSearchClient(endpoint);
        try
        {
            await client.WaitUntilReadyAsync(TimeSpan.FromMinutes(2), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException e)
        {
            throw new AvgException($"the embedded silo: {e.Message}", e);
        }

        var images = dataset.InSplit(Split.Test).ToList();
        DatasetArguments.CheckImagesExist(dataset, images);
        var clock = Stopwatch.StartNew();
        var indexed = await ProgressDisplay.RunCountingAsync(context, "index", images.Count, "images",
            progress => IndexCommand.SendAsync(client, dataset, images, 64, 2, null, null, progress, cancellationToken)).ConfigureAwait(false);
        var c = CultureInfo.InvariantCulture;
        await context.Output.WriteLineAsync(string.Create(c,
            $"cluster: indexed {indexed.Images} test images over HTTP in {clock.Elapsed.TotalSeconds:F1}s ({indexed.Images / clock.Elapsed.TotalSeconds:F0} images/s) into {indexed.Partitions} partitions")).ConfigureAwait(false);

        var queries = images.SelectMany(image => image.Captions.Select(caption => (Caption: caption, Image: image.ImageId))).ToList();
        var ranked = new IReadOnlyList<long>[queries.Count];
        clock.Restart();
        await ProgressDisplay.RunCountingAsync(context, "search", queries.Count, "queries", async progress =>
        {
            var done = 0;
            await Parallel.ForEachAsync(Enumerable.Range(0, queries.Count), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellationToken }, async (q, token) =>
            {
                var result = await client.SearchAsync(queries[q].Caption, 10, 20, token).ConfigureAwait(false);
                ranked[q] = result.Results.Select(hit => long.Parse(hit.ImageId, CultureInfo.InvariantCulture)).ToArray();
                progress.Report(Interlocked.Increment(ref done));
            }).ConfigureAwait(false);
            return done;
        }).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        var recall = Recall.AtKs(ranked, queries.Select(query => (long)query.Image).ToArray(), Recall.PaperLevels);
        await context.Output.WriteLineAsync(string.Create(c,
            $"cluster: avg over HTTP  R@1 {100 * recall[0]:F1}  R@5 {100 * recall[1]:F1}  R@10 {100 * recall[2]:F1}  ({queries.Count} queries, {queries.Count / seconds:F0} queries/s, 4 clients, beam 20)")).ConfigureAwait(false);
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

    private static bool HasFineCodebooks(string bundle) => AvgModel.ReadConfig(Path.Combine(bundle, BundleFiles.Config)).FineLevels > 0;

    /// <summary>A cached bundle is reused only when it opens and was trained with this preset's shape and data size.</summary>
    private static bool IsUsable(string bundle, Preset preset)
    {
        try
        {
            var opened = ModelBundle.Open(bundle, BundleFiles.Generator);
            var config = AvgModel.ReadConfig(opened.PathOf(BundleFiles.Config));
            return config.CodebookSize == preset.Training.CodebookSize && config.Levels == preset.Training.Levels
                && config.TrainImages == preset.Train && config.Training?.GeneratorEpochs == preset.Training.GeneratorEpochs
                && config.Training.GeneratorLearningRate == preset.Training.GeneratorLearningRate
                && config.Training.DistillWeight == preset.Training.DistillWeight;
        }
        catch (AvgException)
        {
            return false;
        }
    }
}
