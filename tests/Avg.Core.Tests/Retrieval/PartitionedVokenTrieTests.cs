using Avg.Retrieval;
using Avg.Tests.Support;
using FsCheck.Xunit;

namespace Avg.Core.Tests.Retrieval;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class PartitionedVokenTrieTests
{
    /// <summary>
    /// The cluster's search path (a view over partitions by first voken, loaded on demand) gives exactly the
    /// whole-trie search: same ids, order, scores and vokens, including tie-breaking with few logit levels.
    /// </summary>
    [Property(MaxTest = 200)]
    public void Search_over_partitions_equals_search_over_the_whole_trie(int seed)
    {
        var (raw, depth, vocabulary) = RandomTries.Entries(seed, maxCount: 60);
        var entries = raw.Select(e => (e.ImageId + 100, e.Vokens)).ToList();
        var whole = VokenTrie.Build(entries, depth, vocabulary);
        var rng = new Random(seed);
        var queries = rng.Next(1, 4);
        var levels = rng.Next(2) == 0 ? 3u : 10_000u;
        var options = new SearchOptions
        {
            Beam = rng.Next(1, 6), K = rng.Next(1, 15),
            Normalization = rng.Next(2) == 0 ? StepNormalization.AllowedVokens : StepNormalization.FullVocabulary,
        };
        var source = new ExtractingSource(whole);
        var view = new PartitionedVokenTrie(depth, vocabulary, whole.FirstVokens.ToArray(), source);

        var expected = new ConstrainedBeamSearch(whole, options).Search(new HashScorer(vocabulary, seed, levels: levels), queries);
        var actual = new ConstrainedBeamSearch(view, options).Search(new HashScorer(vocabulary, seed, levels: levels), queries);

        for (var q = 0; q < queries; q++)
        {
            actual[q].Select(h => PartitionedVokenTrie.SplitImageKey(h.ImageId).LocalId).ShouldBe(expected[q].Select(h => h.ImageId));
            actual[q].Select(h => h.Score).ShouldBe(expected[q].Select(h => h.Score));
            for (var i = 0; i < actual[q].Count; i++)
            {
                actual[q][i].Vokens.ShouldBe(expected[q][i].Vokens);
                PartitionedVokenTrie.SplitImageKey(actual[q][i].ImageId).FirstVoken.ShouldBe(expected[q][i].Vokens[0]);
            }
        }

        source.Loaded.Count.ShouldBeLessThanOrEqualTo(Math.Min(options.Beam * queries, whole.FirstVokens.Length), "only partitions that beams reach are loaded");
        source.Loaded.ShouldBeSubsetOf(source.Prefetched.Concat(depth == 1 ? source.Loaded : []));
    }

    [Fact]
    public void Image_keys_round_trip()
    {
        var key = PartitionedVokenTrie.ImageKey(1023, 123_456_789_012);
        PartitionedVokenTrie.SplitImageKey(key).ShouldBe((1023, 123_456_789_012L));
    }

    [Fact]
    public void Rejects_a_partition_that_does_not_match_the_catalog()
    {
        var whole = VokenTrie.Build([(1L, new[] { 0, 1 }), (2L, new[] { 1, 1 })], 2, 3);
        var view = new PartitionedVokenTrie(2, 3, [0, 1], new WrongSource(whole.ExtractPartition(1)));
        Should.Throw<AvgException>(() => view.ChildrenOf(1)).Message.ShouldContain("disagree");
    }

    private sealed class ExtractingSource(VokenTrie whole) : IVokenPartitionSource
    {
        public HashSet<int> Prefetched { get; } = [];

        public HashSet<int> Loaded { get; } = [];

        public void Prefetch(ReadOnlySpan<int> firstVokens)
        {
            foreach (var f in firstVokens)
            {
                Prefetched.Add(f);
            }
        }

        public VokenTrie Load(int firstVoken)
        {
            Loaded.Add(firstVoken).ShouldBeTrue("a view loads each partition once");
            return whole.ExtractPartition(firstVoken);
        }
    }

    private sealed class WrongSource(VokenTrie trie) : IVokenPartitionSource
    {
        public void Prefetch(ReadOnlySpan<int> firstVokens)
        {
        }

        public VokenTrie Load(int firstVoken) => trie;
    }
}
