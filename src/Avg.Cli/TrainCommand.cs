using System.CommandLine;
using System.Globalization;
using Avg.Data;
using Avg.Models.Pipeline;
using Avg.Retrieval;

namespace Avg.Cli;

/// <summary>`avg train`: trains all AVG stages (or one) on a dataset's train split and writes a model bundle.</summary>
internal static class TrainCommand
{
    public static Command Create(CliContext context)
    {
        var d = new AvgTrainingOptions();
        var data = new Option<string>("--data") { Description = "Dataset folder (with dataset.json) or Karpathy JSON file.", Required = true };
        var imageRoot = DatasetArguments.ImageRootOption();
        var output = new Option<string>("--out") { Description = "Bundle folder to write (replaced when training succeeds).", Required = true };
        var stage = new Option<TrainingStage>("--stage") { Description = "all, or one of encoder | tokenizer | generator | fine (earlier stages then come from --from; fine only fits the collision ranking's codebooks, with the --from bundle's settings).", DefaultValueFactory = _ => TrainingStage.All };
        var from = new Option<string?>("--from") { Description = "Bundle to take the stages before --stage from." };
        var imageFeatures = new Option<string?>("--image-features") { Description = "Precomputed image vectors (.npy float32, a row per image): skips the built-in encoder." };
        var captionFeatures = new Option<string?>("--caption-features") { Description = "Precomputed caption vectors (.npy float32, a row per caption)." };
        var codebook = new Option<int>("--codebook") { Description = "Codebook size N.", DefaultValueFactory = _ => d.CodebookSize };
        var levels = new Option<int>("--levels") { Description = "Vokens per image M.", DefaultValueFactory = _ => d.Levels };
        var fineLevels = new Option<int>("--fine-levels") { Description = "Fine codes per image for ranking images that share a voken sequence (one byte each in the index; 0 = none). Default: 2, or 8 with --encoder pretrained.", DefaultValueFactory = _ => d.FineLevels };
        var encoder = new Option<EncoderKind>("--encoder") { Description = "scratch (the built-in dual encoder, trained on the dataset) or pretrained (frozen ResNet-18 and all-MiniLM-L6-v2 with trained projection heads; backbone outputs cached in DATA/.avg-cache).", DefaultValueFactory = _ => d.Encoder };
        var encoderEpochs = new Option<int>("--encoder-epochs") { Description = "Dual encoder epochs (projection head epochs with --encoder pretrained).", DefaultValueFactory = _ => d.EncoderEpochs };
        var tokenizerEpochs = new Option<int>("--tokenizer-epochs") { Description = "Tokenizer epochs.", DefaultValueFactory = _ => d.TokenizerEpochs };
        var generatorEpochs = new Option<int>("--generator-epochs") { Description = "Generator epochs.", DefaultValueFactory = _ => d.GeneratorEpochs };
        var channels = new Option<string?>("--image-channels") { Description = "CNN widths, e.g. 16,32,64,128 for a faster encoder (default 32,64,128,256)." };
        var generatorDim = new Option<int>("--generator-dim") { Description = "Generator width.", DefaultValueFactory = _ => d.GeneratorDim };
        var generatorLayers = new Option<int>("--generator-layers") { Description = "Generator encoder and decoder layers (each).", DefaultValueFactory = _ => d.GeneratorLayers };
        var decoderLayers = new Option<int?>("--decoder-layers") { Description = "Generator decoder layers, when they should differ from --generator-layers." };
        var generatorLr = new Option<double>("--generator-lr") { Description = "Generator peak learning rate (warm-up, then cosine decay).", DefaultValueFactory = _ => d.GeneratorLearningRate };
        var lengthPool = new Option<int>("--length-pool") { Description = "Generator batches of similar-length captions: sort within pools of this many batches (1 = plain shuffled batches).", DefaultValueFactory = _ => d.GeneratorLengthPool };
        var generatorDropout = new Option<double>("--generator-dropout") { Description = "Dropout in the generator.", DefaultValueFactory = _ => d.GeneratorDropout };
        var textVector = new Option<bool>("--generator-text-vector") { Description = "The generator also reads the query's two-tower text vector (one more memory position): words its own vocabulary never saw still count." };
        var noAlign = new Option<bool>("--no-align") { Description = "Ablation: train the tokenizer without L_align." };
        var noVokenEmbedding = new Option<bool>("--no-voken-embedding") { Description = "Ablation: random voken embeddings instead of the codebook copy." };
        var noDiscriminative = new Option<bool>("--no-discriminative") { Description = "Ablation: train the generator with L_gen only." };
        var irgen = new Option<bool>("--irgen") { Description = "IRGen-style variant: no L_align, no L_dis and no distillation." };
        var noWarmStart = new Option<bool>("--no-text-warm-start") { Description = "Start the generator's text embeddings and encoder layers at random instead of from the dual encoder's text tower." };
        var balancedVokens = new Option<bool>("--balanced-vokens") { Description = "Train the generator on balanced identifiers (fewer train images sharing a voken sequence); eval then indexes balanced too." };
        var disWeight = new Option<double>("--dis-weight") { Description = "Weight of L_dis in L_gen + w·L_dis.", DefaultValueFactory = _ => d.DiscriminativeWeight };
        var disStart = new Option<double>("--dis-start") { Description = "Share of generator training done on L_gen alone before L_dis joins (0–1).", DefaultValueFactory = _ => d.DiscriminativeStart };
        var disNormalization = new Option<string>("--dis-normalization") { Description = "L_dis step log-probabilities: over all vokens, as search ranks (full), or renormalised over the trie's allowed vokens (allowed).", DefaultValueFactory = _ => "full" };
        var distill = new Option<double>("--distill") { Description = "λ (0–1): share of the generator's next-voken target taken from the two-tower's soft ranking of the train images (0 = off).", DefaultValueFactory = _ => d.DistillWeight };
        var disTeacher = new Option<double>("--dis-teacher") { Description = "μ (0–1): share of L_dis's target over its candidates taken from the two-tower's ranking of them (0 = the one-hot positive of the paper).", DefaultValueFactory = _ => d.DiscriminativeTeacherWeight };
        var distillTemperature = new Option<double>("--distill-temperature") { Description = "τ of the two-tower's softmax over train images for --distill.", DefaultValueFactory = _ => d.DistillTemperature };
        var preset = new Option<string>("--preset") { Description = "Named recipe behind the settings not given: default (docs/training.md) or paper (the paper's L_dis weight 1, no fine codebooks).", DefaultValueFactory = _ => "default" };
        var searchBeam = new Option<int>("--search-beam") { Description = "Beam recorded in the bundle for searches that give none (1–100; default 20, 80 with --encoder pretrained).", DefaultValueFactory = _ => d.SearchBeam };
        var searchCollisionWeight = new Option<double>("--search-collision-weight") { Description = "Collision ranking weight w recorded in the bundle for searches that give none (≥ 0; default 30, 100 with --encoder pretrained).", DefaultValueFactory = _ => d.SearchCollisionWeight };
        var imageSize = new Option<int>("--image-size") { Description = "Image size the encoder sees.", DefaultValueFactory = _ => d.ImageSize };
        var device = new Option<string>("--device") { Description = "auto (CUDA when available), cpu or cuda[:N].", DefaultValueFactory = _ => d.Device };
        var threads = new Option<int>("--threads") { Description = "CPU threads for model work (0 = all cores).", DefaultValueFactory = _ => 0 };
        var seed = new Option<int>("--seed") { Description = "Seed for every stage.", DefaultValueFactory = _ => d.Seed };

        var command = new Command("train", "Train the dual encoder, aligned tokenizer and token-to-voken generator into a model bundle.");
        foreach (var option in new Option[] { data, imageRoot, output, stage, from, preset, encoder, imageFeatures, captionFeatures, codebook, levels, fineLevels, encoderEpochs, tokenizerEpochs,
                     generatorEpochs, channels, generatorDim, generatorLayers, decoderLayers, generatorLr, lengthPool, generatorDropout, textVector, noAlign, noVokenEmbedding, noDiscriminative, irgen, noWarmStart, balancedVokens, disWeight, disStart, disNormalization, distill, disTeacher, distillTemperature, searchBeam, searchCollisionWeight, imageSize, device, threads, seed })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            var isIrgen = parse.GetValue(irgen);
            var paper = SearchPresets.Parse(parse.GetValue(preset), "--preset") == SearchPreset.Paper;
            // The paper preset changes only the settings not given on the command line.
            bool Given(Option option) => parse.GetResult(option) is { Implicit: false };
            var options = new AvgTrainingOptions
            {
                Preset = paper ? "paper" : "default",
                ImageSize = parse.GetValue(imageSize),
                Device = parse.GetValue(device)!,
                Threads = parse.GetValue(threads),
                Seed = parse.GetValue(seed),
                CodebookSize = parse.GetValue(codebook),
                Levels = parse.GetValue(levels),
                FineLevels = paper && !Given(fineLevels) ? 0 : parse.GetValue(fineLevels),
                Encoder = parse.GetValue(encoder),
                EncoderEpochs = parse.GetValue(encoderEpochs),
                TokenizerEpochs = parse.GetValue(tokenizerEpochs),
                GeneratorEpochs = parse.GetValue(generatorEpochs),
                ImageChannels = ParseChannels(parse.GetValue(channels)),
                GeneratorDim = parse.GetValue(generatorDim),
                GeneratorLayers = parse.GetValue(generatorLayers),
                GeneratorDecoderLayers = parse.GetValue(decoderLayers),
                GeneratorLearningRate = parse.GetValue(generatorLr),
                GeneratorLengthPool = parse.GetValue(lengthPool),
                GeneratorDropout = parse.GetValue(generatorDropout),
                Align = !(parse.GetValue(noAlign) || isIrgen),
                VokenEmbedding = !parse.GetValue(noVokenEmbedding),
                GeneratorTextVector = parse.GetValue(textVector),
                Discriminative = !(parse.GetValue(noDiscriminative) || isIrgen),
                TextWarmStart = !parse.GetValue(noWarmStart),
                BalancedVokens = parse.GetValue(balancedVokens),
                DiscriminativeWeight = paper && !Given(disWeight) ? 1 : parse.GetValue(disWeight),
                DiscriminativeStart = parse.GetValue(disStart),
                DiscriminativeNormalization = StepNormalizationNames.Parse(parse.GetValue(disNormalization), "--dis-normalization"),
                DistillWeight = isIrgen ? 0 : parse.GetValue(distill),
                DiscriminativeTeacherWeight = parse.GetValue(disTeacher),
                DistillTemperature = parse.GetValue(distillTemperature),
                ImageFeatures = parse.GetValue(imageFeatures),
                CaptionFeatures = parse.GetValue(captionFeatures),
                SearchBeam = parse.GetValue(searchBeam),
                SearchCollisionWeight = parse.GetValue(searchCollisionWeight),
            };
            if (!paper && !isIrgen && AvgTrainer.UsesPretrainedEncoder(options.Encoder, parse.GetValue(stage), parse.GetValue(from)))
            {
                // The default preset's generator for the pretrained encoder (measured best on the icon set's val split,
                // docs/training.md "The default recipe with the pretrained encoder"): it reads the query's text vector and
                // distils the two-tower ranking; the ranking within collisions gets 8 fine codes (docs/training.md "Closing
                // the gap to two-tower on the icon set"), and its searches a wider beam and a heavier collision ranking
                // (docs/training.md "Search defaults"). Flags given on the command line win.
                options = options with
                {
                    GeneratorTextVector = Given(textVector) ? options.GeneratorTextVector : true,
                    DistillWeight = Given(distill) ? options.DistillWeight : PretrainedDistillWeight,
                    FineLevels = Given(fineLevels) ? options.FineLevels : PretrainedFineLevels,
                    SearchBeam = Given(searchBeam) ? options.SearchBeam : PretrainedSearchBeam,
                    SearchCollisionWeight = Given(searchCollisionWeight) ? options.SearchCollisionWeight : PretrainedCollisionWeight,
                };
            }

            var dataset = DatasetArguments.Load(parse.GetValue(data)!, parse.GetValue(imageRoot));
            // Check them all before training rather than fail at the first missing one minutes in.
            if (options.ImageFeatures is null)
                DatasetArguments.CheckImagesExist(dataset, dataset.Images);
            var outDir = parse.GetValue(output)!;
            await TrainAsync(context, dataset, options, outDir, parse.GetValue(stage), parse.GetValue(from), cancellationToken).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    /// <summary>λ of two-tower distillation in the default preset with the pretrained encoder.</summary>
    internal const double PretrainedDistillWeight = 0.5;

    /// <summary>Fine codes per image in the default preset with the pretrained encoder.</summary>
    internal const int PretrainedFineLevels = 8;

    /// <summary>Beam of the searches that give none, recorded in bundles of the default preset with the pretrained encoder.</summary>
    internal const int PretrainedSearchBeam = 80;

    /// <summary>Collision ranking weight w recorded in bundles of the default preset with the pretrained encoder.</summary>
    internal const double PretrainedCollisionWeight = 100;

    /// <summary>Trains with progress and prints where the time went; shared with `avg demo`.</summary>
    internal static async Task<string> TrainAsync(CliContext context, KarpathyDataset dataset, AvgTrainingOptions options, string outDir,
        TrainingStage stage, string? from, CancellationToken cancellationToken)
    {
        AvgTrainer? trainer = null;
        var bundle = await ProgressDisplay.RunAsync(context, progress =>
        {
            trainer = new AvgTrainer(options, progress, line => context.Error.WriteLine(line));
            return trainer.Train(dataset, outDir, stage, from, cancellationToken);
        }, cancellationToken).ConfigureAwait(false);
        var c = CultureInfo.InvariantCulture;
        var time = string.Join(", ", trainer!.StageSeconds.Select(s => string.Create(c, $"{s.Key} {s.Value:F0}s")));
        await context.Output.WriteLineAsync(string.Create(c,
            $"bundle {bundle.Manifest.BundleId} ({options.MethodKey}) written to {bundle.Directory}; time: {time}; total {trainer.StageSeconds.Values.Sum():F0}s")).ConfigureAwait(false);
        return bundle.Directory;
    }

    private static List<int>? ParseChannels(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var widths = new List<int>();
        foreach (var part in parts)
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var w) || w < 1)
                throw new AvgException($"--image-channels: '{part}' is not a positive integer; expected e.g. 16,32,64,128");
            widths.Add(w);
        }
        return widths;
    }
}
