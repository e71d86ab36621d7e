using Avg.Retrieval;
using Avg.Tests.Support;
using FsCheck.Xunit;

namespace Avg.Core.Tests.Retrieval;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class ConstrainedBeamSearchTests
{
    [Property(MaxTest = 150)]
    public void Wide_beam_equals_exhaustive_top_k(int seed)
    {
        var trie = RandomTries.Trie(seed);
        var rng = new Random(seed);
        var queries = rng.Next(1, 4);
        var k = rng.Next(1, 12);
        var normalization = rng.Next(2) == 0 ? StepNormalization.AllowedVokens : StepNormalization.FullVocabulary;
        // Few logit levels on some seeds: ties must be broken the same way (sequence, then id).
        var levels = rng.Next(2) == 0 ? 3u : 10_000u;
        var options = new SearchOptions { Beam = Math.Max(1, trie.SequenceCount), K = k, Normalization = normalization };

        var actual = new ConstrainedBeamSearch(trie, options).Search(new HashScorer(trie.CodebookSize, seed, levels: levels), queries);
        var expected = ExhaustiveSearch.Search(trie, new HashScorer(trie.CodebookSize, seed, levels: levels), queries, k, normalization);

        actual.Length.ShouldBe(queries);
        for (var q = 0; q < queries; q++)
        {
            ShouldBeSameHits(actual[q], expected[q]);
        }
    }

    [Property(MaxTest = 150)]
    public void Narrow_beam_returns_valid_sorted_sequences_with_exact_scores(int seed)
    {
        var trie = RandomTries.Trie(seed, maxCount: 60);
        var rng = new Random(seed);
        var queries = rng.Next(1, 4);
        var options = new SearchOptions { Beam = rng.Next(1, 5), K = rng.Next(1, 20) };
        var levels = rng.Next(2) == 0 ? 3u : 10_000u;

        var actual = new ConstrainedBeamSearch(trie, options).Search(new HashScorer(trie.CodebookSize, seed, levels: levels), queries);
        var all = ExhaustiveSearch.Search(trie, new HashScorer(trie.CodebookSize, seed, levels: levels), queries, int.MaxValue);

        for (var q = 0; q < queries; q++)
        {
            var hits = actual[q];
            hits.Count.ShouldBeLessThanOrEqualTo(options.K);
            hits.Select(h => h.ImageId).Distinct().Count().ShouldBe(hits.Count);
            var leaves = hits.Select(h => trie.Find(h.Vokens)).Distinct().Count();
            leaves.ShouldBeLessThanOrEqualTo(options.Beam);
            var exact = all[q].ToDictionary(h => h.ImageId);
            for (var i = 0; i < hits.Count; i++)
            {
                var leaf = trie.Find(hits[i].Vokens);
                leaf.ShouldBeGreaterThanOrEqualTo(0, "only sequences in the trie may come out");
                trie.ImagesAt(leaf).ToArray().ShouldContain(hits[i].ImageId);
                hits[i].Score.ShouldBe(exact[hits[i].ImageId].Score);
                if (i > 0)
                {
                    Compare(hits[i - 1], hits[i]).ShouldBeLessThan(0, "hits are ranked by score, then sequence, then id");
                }
            }

            if (trie.SequenceCount > 0)
            {
                hits.Count.ShouldBeGreaterThan(0);
            }
        }
    }

    [Property(MaxTest = 100)]
    public void Level_beams_as_wide_as_the_trie_equal_exhaustive_top_k_and_equal_widths_equal_the_uniform_beam(int seed)
    {
        var trie = RandomTries.Trie(seed);
        var rng = new Random(seed);
        var queries = rng.Next(1, 4);
        var k = rng.Next(1, 12);
        var wide = Math.Max(1, trie.SequenceCount);
        // Only the inner levels need the whole width; the last only ranks leaves, so K of them are enough.
        var widths = Enumerable.Range(0, trie.Levels).Select(t => t == trie.Levels - 1 ? Math.Max(k, 1) : wide + rng.Next(3)).ToArray();
        var scorer = () => new HashScorer(trie.CodebookSize, seed, levels: 3);

        var scheduled = new ConstrainedBeamSearch(trie, new SearchOptions { LevelBeams = widths, K = k }).Search(scorer(), queries);
        var expected = ExhaustiveSearch.Search(trie, scorer(), queries, k);
        var b = rng.Next(1, 6);
        var uniform = new ConstrainedBeamSearch(trie, new SearchOptions { Beam = b, K = k }).Search(scorer(), queries);
        var sameWidths = new ConstrainedBeamSearch(trie, new SearchOptions { LevelBeams = Enumerable.Repeat(b, trie.Levels).ToArray(), K = k }).Search(scorer(), queries);

        for (var q = 0; q < queries; q++)
        {
            ShouldBeSameHits(scheduled[q], expected[q]);
            ShouldBeSameHits(sameWidths[q], uniform[q]);
        }
    }

    [Property(MaxTest = 100)]
    public void Narrow_level_beams_keep_each_levels_width_and_exact_scores(int seed)
    {
        var trie = RandomTries.Trie(seed, maxCount: 60);
        var rng = new Random(seed);
        var widths = Enumerable.Range(0, trie.Levels).Select(_ => rng.Next(1, 5)).ToArray();
        var options = new SearchOptions { LevelBeams = widths, K = 100 };
        var expanded = new List<int>();
        var scorer = new HashScorer(trie.CodebookSize, seed, onScore: expanded.Add);

        var hits = new ConstrainedBeamSearch(trie, options).Search(scorer, 1)[0];
        var exact = ExhaustiveSearch.Search(trie, new HashScorer(trie.CodebookSize, seed), 1, int.MaxValue)[0].ToDictionary(h => h.ImageId);

        hits.Select(h => trie.Find(h.Vokens)).Distinct().Count().ShouldBeLessThanOrEqualTo(widths[^1]);
        foreach (var hit in hits)
        {
            hit.Score.ShouldBe(exact[hit.ImageId].Score);
        }

        // Step t scores the beams kept after step t − 1: never more than that level's width.
        for (var t = 1; t < expanded.Count; t++)
        {
            expanded[t].ShouldBeLessThanOrEqualTo(widths[t - 1]);
        }
    }

    [Fact]
    public void Beam_of_one_is_greedy_decoding()
    {
        var trie = RandomTries.Trie(seed: 11, maxCount: 60);
        var scorer = new HashScorer(trie.CodebookSize, 5);
        var hits = new ConstrainedBeamSearch(trie, new SearchOptions { Beam = 1, K = 100 }).Search(scorer, 1)[0];

        var node = VokenTrie.Root;
        var prefix = new List<int>();
        while (!trie.IsLeaf(node))
        {
            var children = trie.ChildrenOf(node);
            var best = 0;
            for (var i = 1; i < children.Count; i++)
            {
                if (scorer.Logit(0, prefix.ToArray(), children.Vokens[i]) > scorer.Logit(0, prefix.ToArray(), children.Vokens[best]))
                {
                    best = i;
                }
            }

            prefix.Add(children.Vokens[best]);
            node = children.NodeAt(best);
        }

        hits.Select(h => h.ImageId).ShouldBe(trie.ImagesAt(node).ToArray());
        hits[0].Vokens.ShouldBe(prefix);
    }

    [Fact]
    public void Allowed_vokens_renormalise_over_the_trie_children_only_and_the_default_keeps_the_models_probabilities()
    {
        // Only vokens 0 and 2 exist after the root; voken 1 would take most of the mass.
        var trie = VokenTrie.Build([(10, [0]), (20, [2])], depth: 1, codebookSize: 3);
        var scorer = new FixedScorer([1f, 5f, 2f]);

        var renormalised = new ConstrainedBeamSearch(trie, new SearchOptions { Normalization = StepNormalization.AllowedVokens }).Search(scorer, 1)[0];
        var full = new ConstrainedBeamSearch(trie, new SearchOptions()).Search(scorer, 1)[0];

        var allowed = Math.Log(Math.Exp(1) + Math.Exp(2));
        var all = Math.Log(Math.Exp(1) + Math.Exp(5) + Math.Exp(2));
        renormalised.Select(h => h.ImageId).ShouldBe([20L, 10L]);
        renormalised[0].Score.ShouldBe((float)(2 - allowed), 1e-6f);
        renormalised[1].Score.ShouldBe((float)(1 - allowed), 1e-6f);
        full[0].Score.ShouldBe((float)(2 - all), 1e-6f);
        full[1].Score.ShouldBe((float)(1 - all), 1e-6f);
    }

    [Property(MaxTest = 50)]
    public void Renormalised_sequence_probabilities_sum_to_one(int seed)
    {
        var trie = RandomTries.Trie(seed);
        if (trie.SequenceCount == 0)
        {
            return;
        }

        var hits = ExhaustiveSearch.Search(trie, new HashScorer(trie.CodebookSize, seed), 2, int.MaxValue, StepNormalization.AllowedVokens);
        var unnormalised = ExhaustiveSearch.Search(trie, new HashScorer(trie.CodebookSize, seed), 2, int.MaxValue);
        for (var q = 0; q < hits.Length; q++)
        {
            var perSequence = hits[q].GroupBy(h => string.Join(',', h.Vokens)).Select(g => g.First().Score);
            perSequence.Sum(s => Math.Exp(s)).ShouldBe(1.0, 1e-4);
            // The default scores are the model's own sequence probabilities: mass outside the trie is lost.
            var model = unnormalised[q].GroupBy(h => string.Join(',', h.Vokens)).Select(g => g.First().Score);
            model.Sum(s => Math.Exp(s)).ShouldBeLessThanOrEqualTo(1.0 + 1e-4);
        }
    }

    [Fact]
    public void Images_of_one_leaf_share_its_score_in_id_order_and_k_cuts_inside_a_leaf()
    {
        var trie = VokenTrie.Build([(9, [1, 1]), (4, [1, 1]), (7, [1, 1]), (2, [0, 1])], depth: 2, codebookSize: 2);
        var scorer = new FixedScorer([0f, 3f]);

        var hits = new ConstrainedBeamSearch(trie, new SearchOptions { K = 2 }).Search(scorer, 1)[0];

        hits.Select(h => h.ImageId).ShouldBe([4L, 7L]);
        hits[0].Score.ShouldBe(hits[1].Score);
        hits[0].Vokens.ShouldBe([1, 1]);
    }

    [Fact]
    public void Empty_trie_and_no_queries_give_empty_results()
    {
        var search = new ConstrainedBeamSearch(VokenTrie.Empty(2, 4), new SearchOptions());
        var scorer = new HashScorer(4, 1);
        search.Search(scorer, 3).ShouldAllBe(list => list.Count == 0);
        scorer.Calls.ShouldBe(0);
        new ConstrainedBeamSearch(RandomTries.Trie(3), new SearchOptions()).Search(new HashScorer(RandomTries.Trie(3).CodebookSize, 1), 0).ShouldBeEmpty();
    }

    [Fact]
    public void Reusing_a_search_across_batch_sizes_gives_the_same_answers()
    {
        var trie = RandomTries.Trie(seed: 21, maxCount: 60);
        var search = new ConstrainedBeamSearch(trie, new SearchOptions { Beam = 3, K = 5 });
        var big = search.Search(new HashScorer(trie.CodebookSize, 8), 4);
        var small = search.Search(new HashScorer(trie.CodebookSize, 8), 2);
        var again = search.Search(new HashScorer(trie.CodebookSize, 8), 4);
        for (var q = 0; q < 2; q++)
        {
            ShouldBeSameHits(small[q], big[q]);
        }

        for (var q = 0; q < 4; q++)
        {
            ShouldBeSameHits(again[q], big[q]);
        }
    }

    [Fact]
    public void Misconfiguration_is_refused_with_the_value()
    {
        Should.Throw<AvgException>(() => new SearchOptions { Beam = 0 }.Validate()).Message.ShouldContain("got 0");
        Should.Throw<AvgException>(() => new SearchOptions { K = -2 }.Validate()).Message.ShouldContain("got -2");
        Should.Throw<AvgException>(() => new SearchOptions { LevelBeams = [20, 0, 20] }.Validate()).Message.ShouldContain("[20,0,20]");
        Should.Throw<AvgException>(() => new SearchOptions { LevelBeams = [] }.Validate()).Message.ShouldContain("one width");
        var threeLevels = new ConstrainedBeamSearch(VokenTrie.Empty(4, 5), new SearchOptions { LevelBeams = [20, 40, 20] });
        Should.Throw<AvgException>(() => threeLevels.Search(new HashScorer(5, 1), 1)).Message.ShouldContain("sequences of 4 vokens");
        var search = new ConstrainedBeamSearch(VokenTrie.Empty(2, 4), new SearchOptions());
        Should.Throw<AvgException>(() => search.Search(new HashScorer(5, 1), 1)).Message.ShouldContain("5 vokens");
    }

    private static int Compare(SearchHit a, SearchHit b)
    {
        var c = b.Score.CompareTo(a.Score);
        if (c != 0)
        {
            return c;
        }

        c = a.Vokens.AsSpan().SequenceCompareTo(b.Vokens);
        return c != 0 ? c : a.ImageId.CompareTo(b.ImageId);
    }

    private static void ShouldBeSameHits(IReadOnlyList<SearchHit> actual, IReadOnlyList<SearchHit> expected)
    {
        actual.Select(h => h.ImageId).ShouldBe(expected.Select(h => h.ImageId));
        actual.Select(h => h.Score).ShouldBe(expected.Select(h => h.Score));
        for (var i = 0; i < actual.Count; i++)
        {
            actual[i].Vokens.ShouldBe(expected[i].Vokens);
        }
    }
}

[Trait(TestCategory.Name, TestCategory.Unit)]
public class ConstrainedBeamSearchAllocationTests
{
    [Fact]
    public void Steps_allocate_nothing_once_buffers_exist()
    {
        // Deep trie, many steps: what a warm search allocates must not grow with depth (only the result lists).
        var rng = new Random(4);
        List<(long, int[])> Entries(int depth) =>
            Enumerable.Range(0, 300).Select(i => ((long)i, Enumerable.Range(0, depth).Select(_ => rng.Next(8)).ToArray())).ToList();
        var shallow = VokenTrie.Build(Entries(2), 2, 8);
        var deep = VokenTrie.Build(Entries(12), 12, 8);
        var scorer = new NoAllocationScorer(8);

        long Allocated(VokenTrie trie)
        {
            var search = new ConstrainedBeamSearch(trie, new SearchOptions { Beam = 10, K = 1 });
            search.Search(scorer, 4);
            var before = GC.GetAllocatedBytesForCurrentThread();
            search.Search(scorer, 4);
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }

        var shallowBytes = Allocated(shallow);
        var deepBytes = Allocated(deep);
        (deepBytes - shallowBytes).ShouldBeLessThanOrEqualTo(4 * 4 * 10, "only the hits' voken arrays may grow with depth");
    }

    private sealed class NoAllocationScorer(int codebookSize) : IVokenStepScorer
    {
        public int CodebookSize => codebookSize;

        public void BeginQueries(int queryCount)
        {
        }

        public void Score(ReadOnlySpan<int> queryOfBeam, ReadOnlySpan<int> prefixes, int prefixLength, Span<float> logits)
        {
            for (var i = 0; i < logits.Length; i++)
            {
                logits[i] = ((i * 7919) + prefixLength) % 13;
            }
        }

        public void ReorderBeams(ReadOnlySpan<int> parentBeam)
        {
        }
    }
}
