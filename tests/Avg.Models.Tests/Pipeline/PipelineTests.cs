using System.Text.Json;
using Avg.Data;
using Avg.Models.Pipeline;
using Avg.Tests.Support;

namespace Avg.Models.Tests.Pipeline;

[Trait(TestCategory.Name, TestCategory.Integration)]
public class PipelineTests
{
    /// <summary>
    /// 16 images, each with two captions made of words unique to it, and precomputed features that separate the
    /// images: the whole pipeline (tokenizer → trie → generator with L_gen + L_dis → constrained beam search)
    /// must memorise it and retrieve every image at rank 1.
    /// </summary>
    [Fact]
    public void Pipeline_overfits_a_tiny_set_to_recall_at_1_of_1()
    {
        using var dir = new TempDirectory();
        var (dataset, imageFeatures, captionFeatures) = TrainOnMemorisationSet(dir, images: 16, width: 32, new AvgTrainingOptions
        {
            CodebookSize = 16, Levels = 2, TokenizerEpochs = 40, GeneratorEpochs = 120, GeneratorBatch = 16,
            GeneratorDim = 64, GeneratorLayers = 1, DiscriminativeBeam = 4,
        });
        using var model = AvgModel.Load(dir.File("bundle"), "cpu");
        var report = new Evaluator(new EvaluationOptions { Split = Split.Train, Beam = 8, ImageFeatures = imageFeatures, CaptionFeatures = captionFeatures })
            .Run([model], dataset);

        var avg = report["methods"]!["avg"]!;
        ((double)avg["r1"]!).ShouldBe(1.0, report.ToJsonString());
        ((double)report["methods"]!["two_tower"]!["r1"]!).ShouldBe(1.0);
        ((int)report["queries"]!).ShouldBe(32);
    }

    [Fact]
    public void Saved_bundle_reloads_to_identical_rankings()
    {
        using var dir = new TempDirectory();
        var (dataset, imageFeatures, captionFeatures) = TrainOnMemorisationSet(dir, images: 12, width: 16, new AvgTrainingOptions
        {
            CodebookSize = 8, Levels = 2, TokenizerEpochs = 5, GeneratorEpochs = 5, GeneratorBatch = 8,
            GeneratorDim = 32, GeneratorLayers = 1, DiscriminativeBeam = 3,
        });
        var eval = new Evaluator(new EvaluationOptions { Split = Split.Train, Beam = 5, ImageFeatures = imageFeatures, CaptionFeatures = captionFeatures });

        using var first = AvgModel.Load(dir.File("bundle"), "cpu");
        var a = eval.Run([first], dataset);
        Directory.Move(dir.File("bundle"), dir.File("moved"));
        using var second = AvgModel.Load(dir.File("moved"), "cpu");
        var b = eval.Run([second], dataset);

        Strip(a).ShouldBe(Strip(b));
        first.Bundle.Manifest.BundleId.ShouldBe(second.Bundle.Manifest.BundleId);
    }

    [Fact]
    public void Generator_shape_options_reach_the_saved_generator()
    {
        using var dir = new TempDirectory();
        TrainOnMemorisationSet(dir, images: 8, width: 16, new AvgTrainingOptions
        {
            CodebookSize = 8, Levels = 2, TokenizerEpochs = 2, GeneratorEpochs = 1, GeneratorBatch = 8,
            GeneratorDim = 32, GeneratorLayers = 1, GeneratorDecoderLayers = 3, GeneratorDropout = 0.25, GeneratorLearningRate = 3e-3,
            GeneratorLengthPool = 2, DiscriminativeBeam = 3,
        });
        using var model = AvgModel.Load(dir.File("bundle"), "cpu");

        model.Generator.Options.EncoderLayers.ShouldBe(1);
        model.Generator.Options.DecoderLayers.ShouldBe(3);
        model.Generator.Options.Dropout.ShouldBe(0.25);
        var saved = AvgModel.ReadConfig(model.Bundle.PathOf(BundleFiles.Config)).Training!;
        saved.GeneratorLearningRate.ShouldBe(3e-3);
        saved.GeneratorLengthPool.ShouldBe(2);
    }

    /// <summary>Writes the memorisation set into <paramref name="dir"/> and trains <paramref name="options"/> on its
    /// features, on the CPU, into <c>bundle</c>.</summary>
    private static (KarpathyDataset Dataset, string ImageFeatures, string CaptionFeatures) TrainOnMemorisationSet(
        TempDirectory dir, int images, int width, AvgTrainingOptions options)
    {
        var (imageFeatures, captionFeatures) = WriteMemorisationSet(dir.Path, images, width);
        var dataset = KarpathyReader.Load(dir.Path);
        new AvgTrainer(options with { Device = "cpu", ImageFeatures = imageFeatures, CaptionFeatures = captionFeatures })
            .Train(dataset, dir.File("bundle"));
        return (dataset, imageFeatures, captionFeatures);
    }

    /// <summary>The report without timing figures, which differ run to run.</summary>
    private static string Strip(System.Text.Json.Nodes.JsonObject report)
    {
        foreach (var (_, method) in report["methods"]!.AsObject()) method!.AsObject().Remove("qps");
        return report.ToJsonString();
    }

    /// <summary>Writes dataset.json (all train) plus image/caption features: image i is a random unit vector, its captions near it.</summary>
    internal static (string Images, string Captions) WriteMemorisationSet(string folder, int images, int width)
    {
        var random = new Random(5);
        var entries = new List<object>();
        var imageRows = new float[images * width];
        var captionRows = new float[images * 2 * width];
        for (var i = 0; i < images; i++)
        {
            var v = Enumerable.Range(0, width).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
            var norm = MathF.Sqrt(v.Sum(x => x * x));
            for (var j = 0; j < width; j++) imageRows[(i * width) + j] = v[j] / norm;
            for (var c = 0; c < 2; c++)
                for (var j = 0; j < width; j++) captionRows[(((i * 2) + c) * width) + j] = (v[j] / norm) + (float)(random.NextDouble() * 0.05);
            var word = ((char)('a' + (i % 26))).ToString() + ((char)('a' + (i / 26))).ToString();
            entries.Add(new
            {
                filename = $"{i}.png", imgid = i, split = "train",
                sentences = new[] { new { raw = $"picture {word}{word} here" }, new { raw = $"a {word}{word} {word}{word}" } },
            });
        }
        File.WriteAllText(Path.Combine(folder, "dataset.json"), JsonSerializer.Serialize(new { dataset = "memorise", images = entries }));
        NpyMatrix.Write(Path.Combine(folder, "img.npy"), imageRows, images, width);
        NpyMatrix.Write(Path.Combine(folder, "cap.npy"), captionRows, images * 2, width);
        return (Path.Combine(folder, "img.npy"), Path.Combine(folder, "cap.npy"));
    }
}
