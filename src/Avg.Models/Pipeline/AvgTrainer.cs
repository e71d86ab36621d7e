using System.Diagnostics;
using System.Globalization;
using Avg.Data;
using Avg.Models.Bundles;
using Avg.Models.Encoders;
using Avg.Models.Encoders.Pretrained;
using Avg.Models.Generation;
using Avg.Models.Runtime;
using Avg.Models.Text;
using Avg.Models.Tokenization;
using Avg.Retrieval;
using TorchSharp;

namespace Avg.Models.Pipeline;

/// <summary>
/// Trains the AVG stages in order — dual encoder (or precomputed features), aligned tokenizer, generator — on a
/// dataset's train split and writes one model bundle. The bundle is built in a sibling folder and moved into
/// place only when complete, so a failed or cancelled run never leaves a half bundle where a good one was.
/// </summary>
public sealed class AvgTrainer
{
    private AvgTrainingOptions options;
    private readonly IProgress<TrainingProgress>? progress;
    private readonly Action<string> log;

    public AvgTrainer(AvgTrainingOptions options, IProgress<TrainingProgress>? progress = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        this.options = options;
        this.progress = progress;
        this.log = log ?? (_ => { });
    }

    private Avg.Quantization.FineQuantizer? fine;
    private BackboneRecord? backbones;

    /// <summary>Seconds spent per stage in the last run, for reports ("where the time goes").</summary>
    public Dictionary<string, double> StageSeconds { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Whether the stages a run trains use the pretrained encoder: <paramref name="encoder"/> for a run that trains the
    /// encoder, else the kind of the bundle it continues (<paramref name="fromBundle"/>).
    /// </summary>
    public static bool UsesPretrainedEncoder(EncoderKind encoder, TrainingStage stage, string? fromBundle)
    {
        if (stage is TrainingStage.All or TrainingStage.Encoder || fromBundle is null)
        {
            return encoder == EncoderKind.Pretrained;
        }

        var config = Path.Combine(fromBundle, BundleFiles.Config);
        return File.Exists(config) && AvgModel.ReadConfig(config).UsesPretrained;
    }

    /// <summary>
    /// Runs <paramref name="stage"/> (or all) and writes the bundle to <paramref name="outDirectory"/>. A single stage
    /// takes the stages before it from <paramref name="fromBundle"/>.
    /// </summary>
    public ModelBundle Train(KarpathyDataset dataset, string outDirectory, TrainingStage stage = TrainingStage.All,
        string? fromBundle = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        if (stage is not (TrainingStage.All or TrainingStage.Encoder) && fromBundle is null)
            throw new AvgException($"--stage {stage.ToString().ToLowerInvariant()} needs --from BUNDLE for the stages before it");
        if (stage == TrainingStage.Fine && options.FineLevels == 0) throw new AvgException("--stage fine with --fine-levels 0 has nothing to fit");
        var device = TorchRuntime.Select(options.Device, options.Threads);
        log($"device: {TorchRuntime.Describe()} on {device.type}");

        var train = dataset.InSplit(Split.Train).ToList();
        if (train.Count < 2) throw new AvgException($"{dataset.JsonPath}: {train.Count} train images; training needs at least 2");
        var captionTexts = new List<string>();
        var captionImage = new List<int>();
        var captionRows = new List<int>();
        for (var i = 0; i < train.Count; i++)
        {
            for (var c = 0; c < train[i].Captions.Count; c++)
            {
                captionTexts.Add(train[i].Captions[c]);
                captionImage.Add(i);
                captionRows.Add(train[i].FirstCaption + c);
            }
        }
        if (captionTexts.Count == 0) throw new AvgException($"{dataset.JsonPath}: the train split has no captions");
        log(string.Create(CultureInfo.InvariantCulture, $"train split: {train.Count} images, {captionTexts.Count} captions"));

        var partial = Path.GetFullPath(outDirectory).TrimEnd(Path.DirectorySeparatorChar) + ".partial";
        if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);
        Directory.CreateDirectory(partial);
        var from = fromBundle is null ? null : ModelBundle.Open(fromBundle);
        if (stage == TrainingStage.Fine)
        {
            // Only the fine codebooks (and the search defaults that go with them) are new: every other setting is the one
            // the stages taken from --from were trained with.
            var trained = AvgModel.ReadConfig(from!.PathOf(BundleFiles.Config)).Training
                ?? throw new AvgException($"{fromBundle}: config.json does not record its training settings; retrain the bundle");
            options = trained with
            {
                FineLevels = options.FineLevels,
                SearchBeam = options.SearchBeam,
                SearchCollisionWeight = options.SearchCollisionWeight,
                Device = options.Device,
                Threads = options.Threads,
                ImageFeatures = options.ImageFeatures ?? trained.ImageFeatures,
                CaptionFeatures = options.CaptionFeatures ?? trained.CaptionFeatures,
            };
        }

        // Text vocabulary: made with the first stage trained; later stages reuse the one they were given.
        TextVocabulary vocabulary;
        if (stage is TrainingStage.All or TrainingStage.Encoder || from is null)
        {
            vocabulary = TextVocabulary.Build(captionTexts);
            vocabulary.Save(Path.Combine(partial, BundleFiles.Vocabulary));
        }
        else
        {
            CopyFrom(from, partial, BundleFiles.Vocabulary);
            vocabulary = TextVocabulary.Load(Path.Combine(partial, BundleFiles.Vocabulary));
        }
        var captionIds = vocabulary.EncodeMany(captionTexts);

        // Stage 1: v_i and v_t, from the dual encoder or from precomputed features.
        float[] imageVectors, captionVectors;
        int width;
        (float[] Tokens, float[] Positions, int Width)? textTables = null;
        TextTowerLayers? textLayers = null;
        var useFeatures = options.ImageFeatures is not null;
        // Later stages keep the encoder kind of the bundle they continue.
        var pretrained = !useFeatures && UsesPretrainedEncoder(options.Encoder, stage, fromBundle);
        backbones = null;
        if (useFeatures)
        {
            var features = Timed("features", () => PrecomputedFeatures.Load(dataset, options.ImageFeatures!, options.CaptionFeatures!));
            width = features.Width;
            imageVectors = PrecomputedFeatures.GatherRows(features.Images, width, train.Select(i => i.Index).ToList());
            captionVectors = PrecomputedFeatures.GatherRows(features.Captions, width, captionRows);
        }
        else if (pretrained)
        {
            using var heads = PretrainedHeads(dataset, train, captionRows, captionImage.ToArray(), stage, from, partial, device, cancellationToken,
                out var trainImageFeatures, out var trainCaptionFeatures);
            imageVectors = heads.ProjectImages(trainImageFeatures);
            captionVectors = heads.ProjectTexts(trainCaptionFeatures);
            width = heads.Options.EmbeddingDim;
        }
        else
        {
            var pixels = Timed("decode", () => ImageDecoder.DecodeAll(dataset, train, options.ImageSize, done => progress?.Report(new TrainingProgress("decode", 0, done, train.Count, 0))));
            var images = ImageData.FromBytes(pixels, train.Count, options.ImageSize, options.ImageSize);
            DualEncoder encoder;
            if (stage is TrainingStage.All or TrainingStage.Encoder)
            {
                var encoderOptions = new DualEncoderOptions
                {
                    EmbeddingDim = options.EmbeddingDim,
                    VocabularySize = vocabulary.Size,
                    MaxTextLength = vocabulary.MaxLength,
                    ImageChannels = options.ImageChannels ?? new DualEncoderOptions().ImageChannels,
                };
                encoder = new DualEncoder(encoderOptions, device, options.Seed);
                var trainer = new DualEncoderTrainer(encoder, new DualEncoderTrainingOptions { Epochs = options.EncoderEpochs, Seed = options.Seed });
                var report = Timed("encoder", () => trainer.Train(images, new CaptionData(captionIds, vocabulary.MaxLength, captionImage.ToArray()), progress, cancellationToken));
                log(string.Create(CultureInfo.InvariantCulture, $"encoder: loss {report.FirstEpochLoss:F3} → {report.FinalLoss:F3}, {report.ExamplesPerSecond:F0} images/s"));
                encoder.Save(Path.Combine(partial, BundleFiles.Encoder));
            }
            else
            {
                foreach (var file in BundleFiles.WithOptions(BundleFiles.Encoder)) CopyFrom(from!, partial, file);
                encoder = DualEncoder.Load(Path.Combine(partial, BundleFiles.Encoder), device);
            }
            encoder.eval();
            imageVectors = Timed("encode", () => encoder.EncodeImages(images));
            captionVectors = encoder.EncodeTexts(captionIds);
            width = encoder.Options.EmbeddingDim;
            if (options.TextWarmStart)
            {
                textTables = encoder.TextEmbeddingTables();
                textLayers = encoder.TextLayers();
            }
            encoder.Dispose();
        }
        if (stage == TrainingStage.Encoder) return Finish(dataset, partial, outDirectory, vocabulary, width, train.Count, useFeatures);

        // Stage 2: the cross-modal aligned tokenizer (§3.1).
        AlignedTokenizer tokenizer;
        if (stage is TrainingStage.All or TrainingStage.Encoder or TrainingStage.Tokenizer)
        {
            tokenizer = new AlignedTokenizer(new AlignedTokenizerOptions { InputDim = width, CodebookSize = options.CodebookSize, Levels = options.Levels }, device, options.Seed);
            var trainer = new AlignedTokenizerTrainer(tokenizer, new AlignedTokenizerTrainingOptions
            {
                Epochs = options.TokenizerEpochs,
                AlignWeight = options.Align ? 1.0 : 0.0,
                Seed = options.Seed,
            });
            var report = Timed("tokenizer", () => trainer.Train(imageVectors, captionVectors, captionImage.ToArray(), progress, cancellationToken));
            log(string.Create(CultureInfo.InvariantCulture, $"tokenizer: loss {report.FirstEpochLoss:F3} → {report.FinalLoss:F3}, {trainer.CodesReseeded} dead codes re-seeded"));
            tokenizer.Save(Path.Combine(partial, BundleFiles.Tokenizer));
        }
        else
        {
            foreach (var file in BundleFiles.WithOptions(BundleFiles.Tokenizer)) CopyFrom(from!, partial, file);
            tokenizer = AlignedTokenizer.Load(Path.Combine(partial, BundleFiles.Tokenizer), device);
            // N and M are the tokenizer's: the stages after it are trained on its identifiers, whatever the options say.
            var (codebookSize, levels) = (tokenizer.Options.CodebookSize, tokenizer.Options.Levels);
            if (codebookSize != options.CodebookSize || levels != options.Levels)
            {
                log(string.Create(CultureInfo.InvariantCulture, $"identifiers: {codebookSize} vokens × {levels} levels, from {fromBundle}'s tokenizer (the options said {options.CodebookSize} × {options.Levels})"));
                options = options with { CodebookSize = codebookSize, Levels = levels };
            }
        }
        tokenizer.eval();
        var vokens = options.BalancedVokens ? tokenizer.EncodeBalanced(imageVectors) : tokenizer.Encode(imageVectors);
        var stats = VokenStatistics.Compute(vokens, options.Levels);
        log(string.Create(CultureInfo.InvariantCulture, $"train vokens: {stats.DistinctCodes}/{options.CodebookSize} codes used, collision rate {stats.CollisionRate:P1}"));
        fine = null;
        if (options.FineLevels > 0)
        {
            fine = Timed("fine", () => FitFine(imageVectors, vokens, tokenizer, width));
            NpyMatrix.Write(Path.Combine(partial, BundleFiles.Fine), fine.Codebooks, fine.Levels * fine.Codes, width);
        }
        if (stage == TrainingStage.Fine)
        {
            tokenizer.Dispose();
            foreach (var file in BundleFiles.WithOptions(BundleFiles.Generator)) CopyFrom(from!, partial, file);
            return Finish(dataset, partial, outDirectory, vocabulary, width, train.Count, useFeatures, vokens);
        }
        if (stage == TrainingStage.Tokenizer)
        {
            tokenizer.Dispose();
            return Finish(dataset, partial, outDirectory, vocabulary, width, train.Count, useFeatures, vokens);
        }

        // Stage 3: the token-to-voken generator (§3.2), L_gen + L_dis over the train trie.
        var trie = VokenTrie.Build(Enumerable.Range(0, train.Count).Select(i => (long)i).ToArray(), vokens, options.Levels, options.CodebookSize);
        using var generator = new TokenToVokenGenerator(new GeneratorOptions
        {
            TextVocabulary = vocabulary.Size,
            CodebookSize = options.CodebookSize,
            Levels = options.Levels,
            Dim = options.GeneratorDim,
            FeedForward = 4 * options.GeneratorDim,
            EncoderLayers = options.GeneratorLayers,
            DecoderLayers = options.GeneratorDecoderLayers ?? options.GeneratorLayers,
            MaxTextLength = vocabulary.MaxLength,
            Dropout = options.GeneratorDropout,
            TextVectorWidth = options.GeneratorTextVector ? width : 0,
        });
        generator.to(device);
        if (options.VokenEmbedding) generator.CopyCodebook(tokenizer.Codebook, tokenizer.Options.InputDim, options.Seed);
        if (textTables is { } tables) generator.CopyTextEmbeddings(tables.Tokens, tables.Positions, tables.Width, options.Seed);
        if (textLayers is not null)
        {
            var copied = generator.CopyTextLayers(textLayers);
            log(copied > 0
                ? $"generator: text embeddings and {copied} encoder layer(s) start from the dual encoder's text tower"
                : "generator: text embeddings start from the dual encoder's text tower (its layers differ in shape)");
            textLayers.Dispose();
        }
        tokenizer.Dispose();
        float[]? teacher = null;
        if (options.DistillWeight > 0)
        {
            teacher = Timed("teacher", () => TeacherTargets.Compute(captionVectors, imageVectors, width, captionImage.ToArray(), vokens,
                options.Levels, options.CodebookSize, options.DistillTemperature, device,
                progress: done => progress?.Report(new TrainingProgress("teacher", 0, done, captionTexts.Count, 0)), cancellationToken: cancellationToken));
        }
        var generatorOptions = new GeneratorTrainingOptions
        {
            Epochs = options.GeneratorEpochs,
            LearningRate = options.GeneratorLearningRate,
            LengthPoolBatches = options.GeneratorLengthPool,
            BatchSize = Math.Min(options.GeneratorBatch, captionTexts.Count),
            Discriminative = options.Discriminative,
            DiscriminativeBeam = options.DiscriminativeBeam,
            DiscriminativeWeight = options.DiscriminativeWeight,
            DiscriminativeStartFraction = options.DiscriminativeStart,
            DistillWeight = options.DistillWeight,
            DiscriminativeTeacherWeight = options.DiscriminativeTeacherWeight,
            DiscriminativeNormalization = options.DiscriminativeNormalization,
            Seed = options.Seed,
        };
        var generatorTrainer = new GeneratorTrainer(generator, generatorOptions);
        var ranking = generatorOptions.NeedsTeacherRanking
            ? new TwoTowerRanking(captionVectors, imageVectors, width, options.DistillTemperature)
            : null;
        var generatorReport = Timed("generator", () => generatorTrainer.Train(captionIds, captionImage.ToArray(), vokens, trie, teacher, ranking,
            options.GeneratorTextVector ? captionVectors : null, progress, cancellationToken));
        var terms = string.Join(", ", generatorTrainer.EpochTermLosses.Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Key} {t.Value[0]:F3} → {t.Value[^1]:F3}")));
        log(string.Create(CultureInfo.InvariantCulture, $"generator: loss {generatorReport.FirstEpochLoss:F3} → {generatorReport.FinalLoss:F3} ({terms}), {generatorReport.ExamplesPerSecond:F0} captions/s"));
        generator.Save(Path.Combine(partial, BundleFiles.Generator));
        return Finish(dataset, partial, outDirectory, vocabulary, width, train.Count, useFeatures, vokens);
    }

    /// <param name="trainVokens">The train images' identifiers, once the tokenizer exists: their per-level voken counts go into the config (the search's <see cref="VokenPrior"/>).</param>
    private ModelBundle Finish(KarpathyDataset dataset, string partial, string outDirectory, TextVocabulary vocabulary, int width, int trainImages, bool useFeatures, int[]? trainVokens = null)
    {
        AvgModel.WriteConfig(Path.Combine(partial, BundleFiles.Config), new BundleConfig
        {
            ImageSize = backbones is null ? options.ImageSize : ResNet18Backbone.InputSize,
            FeatureSource = useFeatures ? "features" : backbones is null ? "encoder" : "pretrained",
            Backbones = backbones,
            FeatureWidth = width,
            CodebookSize = options.CodebookSize,
            Levels = options.Levels,
            Method = options.MethodKey,
            Dataset = dataset.Name,
            TrainImages = trainImages,
            VocabularyHash = vocabulary.Hash,
            TrainVokenCounts = trainVokens is null ? null : VokenPrior.Count(trainVokens, options.Levels, options.CodebookSize),
            FineLevels = trainVokens is null ? 0 : fine?.Levels ?? 0,
            FineCodes = trainVokens is null ? 0 : fine?.Codes ?? 0,
            Search = options.SearchDefaults,
            Training = backbones is null ? options : options with { Encoder = EncoderKind.Pretrained },
        });
        var properties = new Dictionary<string, string>
        {
            ["dataset"] = dataset.Name,
            ["method"] = options.MethodKey,
            ["train_seconds"] = StageSeconds.Values.Sum().ToString("F0", CultureInfo.InvariantCulture),
        };
        ModelBundle.Seal(partial, properties);
        var target = Path.GetFullPath(outDirectory);
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        Directory.Move(partial, target);
        return ModelBundle.Open(target);
    }


    /// <summary>
    /// The pretrained encoder: backbone features of the whole dataset (cached beside it), then projection heads trained on
    /// the train split's (stage all or encoder) or taken from <paramref name="from"/>, saved into the bundle.
    /// </summary>
    private ProjectionHeads PretrainedHeads(KarpathyDataset dataset, List<DatasetImage> train, List<int> captionRows, int[] captionImage,
        TrainingStage stage, ModelBundle? from, string partial, torch.Device device, CancellationToken cancellationToken,
        out float[] trainImageFeatures, out float[] trainCaptionFeatures)
    {
        using var pretrainedBackbones = new PretrainedBackbones(threads: options.Threads);
        if (from is not null && stage is not (TrainingStage.All or TrainingStage.Encoder))
        {
            pretrainedBackbones.Verify(AvgModel.ReadConfig(from.PathOf(BundleFiles.Config)).Backbones
                ?? throw new AvgException($"{from.Directory}: config.json names no backbones; retrain the bundle"), from.Directory);
        }

        backbones = pretrainedBackbones.Record;
        log($"backbones: {ResNet18Backbone.Name} {backbones.ImageSha256[..12]}, {MiniLmBackbone.Name} {backbones.TextSha256[..12]}");
        var (allImages, allCaptions) = Timed("backbones", () => pretrainedBackbones.ForDataset(dataset, progress, log));
        trainImageFeatures = PrecomputedFeatures.GatherRows(allImages, ResNet18Backbone.Width, train.Select(i => i.Index).ToList());
        trainCaptionFeatures = PrecomputedFeatures.GatherRows(allCaptions, MiniLmBackbone.Width, captionRows);
        var path = Path.Combine(partial, BundleFiles.Heads);
        if (stage is not (TrainingStage.All or TrainingStage.Encoder))
        {
            foreach (var file in BundleFiles.WithOptions(BundleFiles.Heads)) CopyFrom(from!, partial, file);
            return ProjectionHeads.Load(path, device);
        }
        var heads = new ProjectionHeads(new ProjectionHeadOptions { EmbeddingDim = options.EmbeddingDim }, device, options.Seed);
        var (images, captions) = (trainImageFeatures, trainCaptionFeatures);
        var report = Timed("heads", () => heads.Train(images, captions, captionImage,
            new DualEncoderTrainingOptions { Epochs = options.EncoderEpochs, Seed = options.Seed }, progress, cancellationToken));
        log(string.Create(CultureInfo.InvariantCulture, $"projection heads: loss {report.FirstEpochLoss:F3} → {report.FinalLoss:F3}, {report.ExamplesPerSecond:F0} pairs/s"));
        heads.Save(path);
        return heads;
    }

    /// <summary>The collision ranking's fine codebooks: k-means on what the train images' identifiers leave of their vectors.</summary>
    private Avg.Quantization.FineQuantizer FitFine(float[] imageVectors, int[] vokens, AlignedTokenizer tokenizer, int width)
    {
        var residuals = Avg.Quantization.FineQuantizer.Residuals(imageVectors, vokens, options.Levels, tokenizer.Codebook, width);
        var fitted = Avg.Quantization.FineQuantizer.Train(residuals, width, options.FineLevels, seed: options.Seed);
        var codes = fitted.EncodeImages(imageVectors, vokens, options.Levels, tokenizer.Codebook);
        var left = 0.0;
        var before = 0.0;
        var decoded = new float[width];
        for (var i = 0; i < vokens.Length / options.Levels; i++)
        {
            fitted.Decode(codes.AsSpan(i * fitted.Levels, fitted.Levels), decoded);
            for (var x = 0; x < width; x++)
            {
                var e = residuals[(i * width) + x];
                before += e * e;
                left += (e - decoded[x]) * (e - decoded[x]);
            }
        }
        log(string.Create(CultureInfo.InvariantCulture, $"fine codes: {fitted.Levels} × {fitted.Codes}, residual energy {before / (vokens.Length / options.Levels):F3} → {left / (vokens.Length / options.Levels):F3} per image"));
        return fitted;
    }

    private T Timed<T>(string stage, Func<T> work)
    {
        var clock = Stopwatch.StartNew();
        var result = work();
        StageSeconds[stage] = StageSeconds.GetValueOrDefault(stage) + clock.Elapsed.TotalSeconds;
        return result;
    }


    private static void CopyFrom(ModelBundle from, string directory, string file)
    {
        var source = from.PathOf(file);
        if (!File.Exists(source))
            throw new AvgException($"{from.Directory}: has no {file}; train that stage first (or use --stage all)");
        File.Copy(source, Path.Combine(directory, file), overwrite: true);
    }
}
