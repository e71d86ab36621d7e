using Avg.Models.Generation;
using Avg.Retrieval;
using Avg.Tests.Support;
using TorchSharp;

namespace Avg.Models.Tests.Generation;

[Trait(TestCategory.Name, TestCategory.Integration)]
public class GeneratorTrainerTests
{
    private static GeneratorOptions Small => new()
    {
        TextVocabulary = 20, CodebookSize = 6, Levels = 2, Dim = 32, Heads = 2, EncoderLayers = 1, DecoderLayers = 1,
        FeedForward = 64, MaxTextLength = 3, Dropout = 0.0,
    };

    // Six images with two vokens each (four share their first voken in pairs), two three-token captions per image.
    private static readonly int[] ImageVokens = [0, 1, 0, 2, 3, 1, 3, 4, 5, 5, 1, 3];
    private static readonly int[] CaptionImage = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5];
    private static int[] CaptionIds => Enumerable.Range(0, 12).SelectMany(c => new[] { 3 + (c / 2), 10 + (c % 2), c % 3 == 0 ? 0 : 15 }).ToArray();

    [Fact]
    public void Each_term_of_the_generator_loss_decreases_on_a_toy_set()
    {
        torch.manual_seed(3);
        using var model = new TokenToVokenGenerator(Small);
        var trie = VokenTrie.Build(Enumerable.Range(0, 6).Select(i => (long)i).ToArray(), ImageVokens, 2, 6);
        // A teacher that spreads each caption over its own image and the next one.
        var imageVectors = Enumerable.Range(0, 6).SelectMany(i => Enumerable.Range(0, 6).Select(j => i == j ? 1f : 0f)).ToArray();
        var captionVectors = CaptionImage.SelectMany(i => Enumerable.Range(0, 6).Select(j => j == i ? 1f : j == (i + 1) % 6 ? 0.8f : 0f)).ToArray();
        var teacher = TeacherTargets.Compute(captionVectors, imageVectors, 6, CaptionImage, ImageVokens, 2, 6, temperature: 0.2);
        var trainer = new GeneratorTrainer(model, new GeneratorTrainingOptions
        {
            Epochs = 30, BatchSize = 6, LearningRate = 1e-2, DiscriminativeBeam = 3, DiscriminativeStartFraction = 0, DistillWeight = 0.5,
        });

        var report = trainer.Train(CaptionIds, CaptionImage, ImageVokens, trie, teacher);

        trainer.EpochTermLosses.Keys.Order().ShouldBe(["dis", "distill", "gen"]);
        foreach (var (term, losses) in trainer.EpochTermLosses)
        {
            losses.Count.ShouldBe(30, term);
            losses[^1].ShouldBeLessThan(losses[0] * 0.7, term);
        }
        report.FinalLoss.ShouldBeLessThan(report.FirstEpochLoss);
    }

    [Theory]
    [InlineData(0.5, 0.0, "teacher targets")]
    [InlineData(0.0, 0.5, "two-tower ranking")]
    public void A_teacher_weight_without_the_teachers_data_is_refused(double distill, double disTeacher, string missing)
    {
        using var model = new TokenToVokenGenerator(Small);
        var trie = VokenTrie.Build(Enumerable.Range(0, 6).Select(i => (long)i).ToArray(), ImageVokens, 2, 6);
        var trainer = new GeneratorTrainer(model, new GeneratorTrainingOptions
        {
            Epochs = 1, BatchSize = 6, DistillWeight = distill, DiscriminativeTeacherWeight = disTeacher,
        });

        Should.Throw<ArgumentException>(() => trainer.Train(CaptionIds, CaptionImage, ImageVokens, trie))
            .Message.ShouldContain(missing);
    }

    [Fact]
    public void Soft_discriminative_targets_keep_the_images_the_teacher_ranks_with_the_positive()
    {
        // The teacher rates each caption's own image and the next one equally. With the one-hot positive of eq. 9,
        // L_dis pushes the next image's sequence down; with the teacher's ranking as target it is kept near the positive.
        var imageVectors = Enumerable.Range(0, 6).SelectMany(i => Enumerable.Range(0, 6).Select(j => i == j ? 1f : 0f)).ToArray();
        var captionVectors = CaptionImage.SelectMany(i => Enumerable.Range(0, 6).Select(j => j == i || j == (i + 1) % 6 ? 1f : 0f)).ToArray();
        var ranking = new TwoTowerRanking(captionVectors, imageVectors, 6, temperature: 0.1);

        double NeighbourGap(double mu)
        {
            torch.manual_seed(3);
            using var model = new TokenToVokenGenerator(Small);
            var trie = VokenTrie.Build(Enumerable.Range(0, 6).Select(i => (long)i).ToArray(), ImageVokens, 2, 6);
            var trainer = new GeneratorTrainer(model, new GeneratorTrainingOptions
            {
                Epochs = 30, BatchSize = 6, LearningRate = 1e-2, DiscriminativeBeam = 3, DiscriminativeStartFraction = 0,
                DiscriminativeWeight = 1, DiscriminativeTeacherWeight = mu,
            });
            trainer.Train(CaptionIds, CaptionImage, ImageVokens, trie, ranking: ranking);
            trainer.EpochTermLosses["dis"][^1].ShouldBeLessThan(trainer.EpochTermLosses["dis"][0], $"L_dis at mu {mu}");
            return SequenceLogProbability(model, next: true) - SequenceLogProbability(model, next: false);
        }

        var hard = NeighbourGap(0);
        var soft = NeighbourGap(1);

        soft.ShouldBeGreaterThan(hard + 0.5, $"log p(next image) − log p(own image): one-hot {hard:F2}, teacher {soft:F2}");
    }

    [Fact]
    public void A_generator_that_reads_the_text_vector_tells_apart_captions_with_the_same_tokens()
    {
        // Every caption has the same tokens; only its text vector (one-hot of its image) tells its image. The paper's
        // generator can answer one image for all twelve; one that reads the vector finds each caption's own.
        var sameTokens = Enumerable.Range(0, 12).SelectMany(_ => new[] { 3, 10, 15 }).ToArray();
        var vectors = CaptionImage.SelectMany(i => Enumerable.Range(0, 6).Select(j => j == i ? 1f : 0f)).ToArray();
        var trie = VokenTrie.Build(Enumerable.Range(0, 6).Select(i => (long)i).ToArray(), ImageVokens, 2, 6);

        int OwnImageFirst(int vectorWidth)
        {
            torch.manual_seed(3);
            using var model = new TokenToVokenGenerator(Small with { TextVectorWidth = vectorWidth });
            var trainer = new GeneratorTrainer(model, new GeneratorTrainingOptions { Epochs = 40, BatchSize = 6, LearningRate = 1e-2, Discriminative = false });
            trainer.Train(sameTokens, CaptionImage, ImageVokens, trie, captionVectors: vectorWidth > 0 ? vectors : null);
            using var scorer = new GeneratorScorer(model);
            scorer.NeedsTextVectors.ShouldBe(vectorWidth > 0);
            scorer.Prepare(sameTokens, 12, vectorWidth > 0 ? vectors : null);
            var hits = new ConstrainedBeamSearch(trie, new SearchOptions { Beam = 6, K = 1 }.Validate()).Search(scorer, 12);
            return Enumerable.Range(0, 12).Count(c => hits[c][0].ImageId == CaptionImage[c]);
        }

        OwnImageFirst(0).ShouldBeLessThanOrEqualTo(2, "tokens alone: one answer for every caption");
        OwnImageFirst(6).ShouldBe(12);
    }

    [Fact]
    public void A_generator_that_reads_the_text_vector_refuses_queries_without_it_and_round_trips()
    {
        torch.manual_seed(5);
        using var model = new TokenToVokenGenerator(Small with { TextVectorWidth = 4 });
        using var ids = torch.tensor(new long[] { 3, 10, 0, 4, 0, 0 }, [2, 3]);
        Should.Throw<ArgumentException>(() => model.Encode(ids)).Message.ShouldContain("text vector");
        using var vectors = torch.tensor(new float[] { 1, 0, 0, 0, 0, 1, 0, 0 }, [2, 4]);
        var (memory, mask) = model.Encode(ids, vectors);
        memory.shape.ShouldBe([2, 3, 32], "the vector's position, then the two token columns in use");
        mask[0, 0, 0, 0].item<float>().ShouldBe(0f, "the vector's position is never masked");
        mask[1, 0, 0, 2].item<float>().ShouldBeLessThan(-1e8f, "padding stays masked");

        var path = Path.Combine(Path.GetTempPath(), $"generator-{Guid.NewGuid():N}.bin");
        try
        {
            model.Save(path);
            using var loaded = TokenToVokenGenerator.Load(path);
            loaded.Options.TextVectorWidth.ShouldBe(4);
            var (again, _) = loaded.Encode(ids, vectors);
            again.allclose(memory).ShouldBeTrue();
        }
        finally
        {
            File.Delete(path);
            File.Delete(path + ".json");
        }
    }

    /// <summary>Mean over captions of the generator's log-probability of its image's sequence, or of the next image's.</summary>
    private static double SequenceLogProbability(TokenToVokenGenerator model, bool next)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var ids = torch.tensor(CaptionIds.Select(i => (long)i).ToArray(), [12, 3]);
        var targets = torch.tensor(CaptionImage.SelectMany(i => ImageVokens.Skip(2 * (next ? (i + 1) % 6 : i)).Take(2)).Select(v => (long)v).ToArray(), [12, 2]);
        var logProbs = torch.nn.functional.log_softmax(model.call(ids, targets), -1);
        return logProbs.gather(2, targets.unsqueeze(2)).sum().item<float>() / 12;
    }
}
