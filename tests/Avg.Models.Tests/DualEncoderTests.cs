using Avg.Models.Encoders;
using Avg.Models.Runtime;
using Avg.Tests.Support;

namespace Avg.Models.Tests;

[Trait(TestCategory.Name, TestCategory.Integration)]
public class DualEncoderTests
{
    private static DualEncoderOptions SmallOptions(int vocabularySize) => new()
    {
        EmbeddingDim = 32,
        ImageChannels = [16, 32],
        VocabularySize = vocabularySize,
        MaxTextLength = 8,
        TextWidth = 32,
        TextLayers = 1,
        TextHeads = 2,
    };

    [Fact]
    public void Training_on_solid_colours_makes_text_to_image_retrieval_accurate()
    {
        var device = TorchRuntime.Select("cpu");
        var images = ToyColours.Images();
        var (vocabulary, captions) = ToyColours.Encoded();
        using var model = new DualEncoder(SmallOptions(vocabulary.Size), device, seed: 3);
        var trainer = new DualEncoderTrainer(model, new DualEncoderTrainingOptions { Epochs = 150, BatchSize = 32, LearningRate = 3e-3, MaxShift = 0, Seed = 3 });
        var reports = new List<TrainingProgress>();

        var report = trainer.Train(images, captions, new SynchronousProgress<TrainingProgress>(reports.Add));

        report.Steps.ShouldBe(150);
        reports.Count.ShouldBe(150);
        reports[^1].ShouldBe(new TrainingProgress(DualEncoderTrainer.Stage, 149, 150, 150, reports[^1].Loss));
        report.FinalLoss.ShouldBeLessThan(report.FirstEpochLoss / 3);
        RecallAtOne(model, images, captions).ShouldBeGreaterThanOrEqualTo(0.9);
    }

    [Fact]
    public void Embeddings_are_unit_length()
    {
        var (vocabulary, captions) = ToyColours.Encoded();
        using var model = new DualEncoder(SmallOptions(vocabulary.Size));

        var imageVectors = model.EncodeImages(ToyColours.Images(), batchSize: 7);
        var textVectors = model.EncodeTexts(captions.Ids, batchSize: 13);

        imageVectors.Length.ShouldBe(ToyColours.Count * 32);
        textVectors.Length.ShouldBe(captions.Count * 32);
        foreach (var vectors in new[] { imageVectors, textVectors })
        {
            for (var row = 0; row < vectors.Length / 32; row++)
                Math.Sqrt(vectors.AsSpan(row * 32, 32).ToArray().Sum(x => x * x)).ShouldBe(1.0, 1e-4);
        }
    }

    [Fact]
    public void A_caption_embeds_the_same_alone_or_beside_a_longer_one()
    {
        var (vocabulary, captions) = ToyColours.Encoded();
        using var model = new DualEncoder(SmallOptions(vocabulary.Size));
        var shortRow = vocabulary.Encode("red");
        var longRow = vocabulary.Encode("a square of bright red");

        var alone = model.EncodeTexts(shortRow);
        var together = model.EncodeTexts([.. shortRow, .. longRow]);

        together.Take(32).ToArray().ShouldBe(alone, 1e-5f);
    }

    [Fact]
    public void Same_seed_gives_the_same_trained_model()
    {
        var images = ToyColours.Images();
        var (vocabulary, captions) = ToyColours.Encoded();
        float[] Run()
        {
            using var model = new DualEncoder(SmallOptions(vocabulary.Size), seed: 5);
            new DualEncoderTrainer(model, new DualEncoderTrainingOptions { Epochs = 3, BatchSize = 16, Seed = 5 }).Train(images, captions);
            return model.EncodeTexts(captions.Ids);
        }

        Run().ShouldBe(Run());
    }

    [Fact]
    public void Save_then_load_gives_identical_embeddings()
    {
        var images = ToyColours.Images();
        var (vocabulary, captions) = ToyColours.Encoded();
        using var model = new DualEncoder(SmallOptions(vocabulary.Size), seed: 9);
        new DualEncoderTrainer(model, new DualEncoderTrainingOptions { Epochs = 2, BatchSize = 16 }).Train(images, captions);
        var path = Path.Combine(Path.GetTempPath(), $"dual-{Guid.NewGuid():N}.bin");
        try
        {
            model.Save(path);
            using var loaded = DualEncoder.Load(path);

            loaded.EncodeImages(images).ShouldBe(model.EncodeImages(images));
            loaded.EncodeTexts(captions.Ids).ShouldBe(model.EncodeTexts(captions.Ids));
            loaded.LogitScale.ShouldBe(model.LogitScale);
        }
        finally
        {
            File.Delete(path);
            File.Delete(path + ".json");
        }
    }

    private static double RecallAtOne(DualEncoder model, ImageData images, CaptionData captions)
    {
        var d = model.Options.EmbeddingDim;
        var imageVectors = model.EncodeImages(images);
        var textVectors = model.EncodeTexts(captions.Ids);
        var hits = 0;
        for (var c = 0; c < captions.Count; c++)
        {
            var offset = c * d;
            var best = Enumerable.Range(0, images.Count)
                .MaxBy(i => Enumerable.Range(0, d).Sum(k => textVectors[offset + k] * imageVectors[i * d + k]));
            if (best == captions.ImageOf[c]) hits++;
        }
        return (double)hits / captions.Count;
    }
}

/// <summary>IProgress that calls back on the reporting thread, so tests see every report before Train returns.</summary>
internal sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
