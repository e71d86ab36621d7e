using Avg.Data;
using Avg.Models.Encoders;
using Avg.Models.Encoders.Pretrained;
using Avg.Models.Pipeline;
using Avg.Retrieval;
using Avg.Shapes;
using Avg.Tests.Support;

namespace Avg.Models.Tests.Pretrained;

/// <summary>A bundle trained with the pretrained encoder records its backbones by hash, holds only its heads, and loads to encode raw inputs.</summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public sealed class PretrainedBundleTests
{
    private static readonly AvgTrainingOptions Tiny = new()
    {
        Encoder = EncoderKind.Pretrained, Device = "cpu", Threads = 2, EmbeddingDim = 32, EncoderEpochs = 1,
        CodebookSize = 8, Levels = 2, TokenizerEpochs = 2, FineLevels = 0,
        GeneratorDim = 32, GeneratorLayers = 1, GeneratorEpochs = 1, GeneratorBatch = 16, DiscriminativeBeam = 2, Seed = 3,
    };

    [Fact]
    public void A_tiny_pretrained_bundle_round_trips()
    {
        using var dir = new TempDirectory();
        var data = dir.File("data");
        new ShapesWorld(new ShapesWorldOptions { Train = 10, Val = 0, Test = 2, Seed = 3, ImageSize = 32 }).Generate(data, overwrite: true);
        var dataset = KarpathyReader.Load(data);
        var bundle = new AvgTrainer(Tiny).Train(dataset, dir.File("bundle"));

        var config = AvgModel.ReadConfig(bundle.PathOf(BundleFiles.Config));
        config.FeatureSource.ShouldBe("pretrained");
        config.ImageSize.ShouldBe(ResNet18Backbone.InputSize);
        config.Training!.Encoder.ShouldBe(EncoderKind.Pretrained);
        using var backbones = new PretrainedBackbones();
        config.Backbones.ShouldBe(backbones.Record);
        File.Exists(bundle.PathOf(BundleFiles.Heads)).ShouldBeTrue();
        File.Exists(bundle.PathOf(BundleFiles.Encoder)).ShouldBeFalse();
        Directory.GetFiles(bundle.Directory, "*.onnx").ShouldBeEmpty();
        File.Exists(BackboneFeatureCache.PathFor(data, ResNet18Backbone.Name, backbones.Image.Sha256)).ShouldBeTrue();
        File.Exists(BackboneFeatureCache.PathFor(data, MiniLmBackbone.Name, backbones.Text.Sha256)).ShouldBeTrue();

        using var model = AvgModel.Load(bundle.Directory, "cpu", threads: 2);
        model.AcceptsImages.ShouldBeTrue();
        var train = dataset.InSplit(Split.Train).ToList();
        var pixels = ImageDecoder.DecodeAll(dataset, train, config.ImageSize);
        var raw = model.EncodeImages(ImageData.FromBytes(pixels, train.Count, config.ImageSize, config.ImageSize));
        var cached = NpyMatrix.Read(BackboneFeatureCache.PathFor(data, ResNet18Backbone.Name, backbones.Image.Sha256));
        var viaCache = model.Pretrained!.Heads.ProjectImages(PrecomputedFeatures.GatherRows(cached, ResNet18Backbone.Width, train.Select(i => i.Index).ToList()));
        raw.Length.ShouldBe(train.Count * 32);
        for (var i = 0; i < raw.Length; i++) raw[i].ShouldBe(viaCache[i], 1e-4);

        var vokens = model.Tokenize(raw);
        var trie = VokenTrie.Build(Enumerable.Range(0, train.Count).Select(i => (long)i).ToArray(), vokens, config.Levels, config.CodebookSize);
        using var searcher = model.CreateSearcher(trie, new SearchOptions { Beam = 4, K = 3 });
        searcher.Search([train[0].Captions[0]])[0].ShouldNotBeEmpty();
        var text = model.EncodeTexts([train[0].Captions[0]]);
        Math.Sqrt(text.Sum(v => (double)v * v)).ShouldBe(1, 1e-4);
        model.Dispose();

        // The generator stage again, reading the query's text vector (MiniLM through the heads): it loads and searches.
        var withVector = new AvgTrainer(Tiny with { GeneratorTextVector = true }).Train(dataset, dir.File("bundle-text-vector"), TrainingStage.Generator, bundle.Directory);
        using (var reading = AvgModel.Load(withVector.Directory, "cpu", threads: 2))
        {
            reading.Generator.Options.TextVectorWidth.ShouldBe(32, "the heads' embedding width");
            AvgModel.ReadConfig(withVector.PathOf(BundleFiles.Config)).Training!.GeneratorTextVector.ShouldBeTrue();
            using var readingSearcher = reading.CreateSearcher(trie, new SearchOptions { Beam = 4, K = 3 });
            readingSearcher.Search([train[0].Captions[0], train[1].Captions[0]]).ShouldAllBe(hits => hits.Count > 0);
        }

        // A bundle that names other backbones is refused, with what to do.
        AvgModel.WriteConfig(bundle.PathOf(BundleFiles.Config), config with { Backbones = config.Backbones! with { ImageSha256 = new string('0', 64) } });
        Avg.Models.Bundles.ModelBundle.Seal(bundle.Directory);
        Should.Throw<AvgException>(() => AvgModel.Load(bundle.Directory, "cpu")).Message.ShouldContain("retrain the bundle with this build");
    }
}
