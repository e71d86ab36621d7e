using Avg.Retrieval;
using Avg.Tests.Support;
using FsCheck.Xunit;

namespace Avg.Core.Tests.Retrieval;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class VokenPriorTests
{
    [Fact]
    public void Counts_each_voken_per_level()
    {
        var counts = VokenPrior.Count([0, 2, 0, 1, 2, 1], levels: 2, codebookSize: 3);

        counts[0].ShouldBe([2, 0, 1]);
        counts[1].ShouldBe([0, 2, 1]);
        Should.Throw<ArgumentException>(() => VokenPrior.Count([0, 1, 2], 2, 3));
        Should.Throw<ArgumentOutOfRangeException>(() => VokenPrior.Count([0, 3], 2, 3));
    }

    [Fact]
    public void Bias_is_minus_alpha_times_the_add_one_smoothed_log_frequency()
    {
        // Level 1: 6 of 8 images start with voken 0, 2 with voken 1, none with voken 2.
        var prior = VokenPrior.FromCounts([[6, 2, 0], [3, 3, 2]], weight: 0.5);

        prior.Bias(0, 0).ShouldBe((float)(-0.5 * Math.Log(7.0 / 11)), 1e-6f);
        prior.Bias(0, 1).ShouldBe((float)(-0.5 * Math.Log(3.0 / 11)), 1e-6f);
        prior.Bias(0, 2).ShouldBe((float)(-0.5 * Math.Log(1.0 / 11)), 1e-6f);
        prior.Bias(1, 2).ShouldBe((float)(-0.5 * Math.Log(3.0 / 11)), 1e-6f);
        prior.LevelBias(1).Length.ShouldBe(3);
        VokenPrior.FromCounts([[6, 2, 0]], weight: 0).Bias(0, 0).ShouldBe(0f);
    }

    [Fact]
    public void Bad_counts_or_weights_are_refused()
    {
        Should.Throw<AvgException>(() => VokenPrior.FromCounts([[1, 2]], -0.1)).Message.ShouldContain("≥ 0");
        Should.Throw<AvgException>(() => VokenPrior.FromCounts([[1, 2]], double.NaN)).Message.ShouldContain("≥ 0");
        Should.Throw<AvgException>(() => VokenPrior.FromCounts([[1, 2], [1]], 1)).Message.ShouldContain("level 2 has 1 counts");
        Should.Throw<AvgException>(() => VokenPrior.FromCounts([[1, -2]], 1)).Message.ShouldContain("negative");
    }

    [Fact]
    public void A_prior_demotes_a_sequence_that_is_likely_only_because_it_is_frequent_in_training()
    {
        // The model prefers voken 1 a little, but nine in ten train identifiers start with it.
        var trie = VokenTrie.Build([(10, [0]), (20, [1])], depth: 1, codebookSize: 2);
        var scorer = new FixedScorer([0f, 0.5f]);
        var prior = VokenPrior.FromCounts([[9, 99]], weight: 1);

        var plain = new ConstrainedBeamSearch(trie, new SearchOptions()).Search(scorer, 1)[0];
        var divided = new ConstrainedBeamSearch(trie, new SearchOptions { Prior = prior }).Search(scorer, 1)[0];

        plain.Select(h => h.ImageId).ShouldBe([20L, 10L]);
        divided.Select(h => h.ImageId).ShouldBe([10L, 20L]);
        var logZ = Math.Log(1 + Math.Exp(0.5));
        divided[0].Score.ShouldBe((float)(0 - logZ - Math.Log(10.0 / 110)), 1e-5f);
        divided[1].Score.ShouldBe((float)(0.5 - logZ - Math.Log(100.0 / 110)), 1e-5f);
    }

    [Property(MaxTest = 100)]
    public void Wide_beam_with_a_prior_equals_exhaustive_top_k(int seed)
    {
        var trie = RandomTries.Trie(seed);
        var rng = new Random(seed);
        var counts = Enumerable.Range(0, trie.Levels).Select(_ => Enumerable.Range(0, trie.CodebookSize).Select(_ => rng.Next(0, 50)).ToArray()).ToArray();
        var prior = VokenPrior.FromCounts(counts, rng.NextDouble() * 2);
        var k = rng.Next(1, 12);

        var actual = new ConstrainedBeamSearch(trie, new SearchOptions { Beam = Math.Max(1, trie.SequenceCount), K = k, Prior = prior })
            .Search(new HashScorer(trie.CodebookSize, seed), 2);
        var expected = ExhaustiveSearch.Search(trie, new HashScorer(trie.CodebookSize, seed), 2, k, prior: prior);

        for (var q = 0; q < 2; q++)
        {
            actual[q].Select(h => (h.ImageId, h.Score)).ShouldBe(expected[q].Select(h => (h.ImageId, h.Score)));
        }
    }

    [Fact]
    public void A_prior_of_another_shape_is_refused()
    {
        var trie = VokenTrie.Build([(10, [0, 1])], depth: 2, codebookSize: 2);
        var search = new ConstrainedBeamSearch(trie, new SearchOptions { Prior = VokenPrior.FromCounts([[1, 1]], 1) });

        Should.Throw<AvgException>(() => search.Search(new HashScorer(2, 1), 1)).Message.ShouldContain("another model bundle");
    }
}
