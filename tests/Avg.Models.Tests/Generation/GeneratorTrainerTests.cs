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
