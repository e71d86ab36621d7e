using Avg.Cluster.Grains;
using Avg.Retrieval;
using Avg.Tests.Support;

namespace Avg.Cluster.Tests;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class PrefixNeighboursTests
{
    // One partition (first voken 2), depth 3.
    private static readonly VokenTrie Trie = VokenTrie.Build(
        [
            (0L, [2, 1, 1]),
            (1L, [2, 1, 1]),
            (2L, [2, 1, 3]),
            (3L, [2, 0, 4]),
            (4L, [2, 3, 0]),
            (5L, [2, 1, 0]),
        ],
        depth: 3,
        codebookSize: 5);

    [Fact]
    public void Nearest_come_by_longest_shared_prefix_then_trie_order()
    {
        PrefixNeighbours.Find(Trie, [2, 1, 1], self: 0, k: 10).ShouldBe([1L, 5L, 2L, 3L, 4L]);
    }

    [Fact]
    public void At_most_k_and_never_the_image_itself()
    {
        PrefixNeighbours.Find(Trie, [2, 1, 1], self: 1, k: 2).ShouldBe([0L, 5L]);
        PrefixNeighbours.Find(Trie, [2, 3, 0], self: 4, k: 3).ShouldBe([3L, 5L, 0L]);
    }

    [Fact]
    public void A_sequence_not_in_the_trie_has_no_neighbours()
    {
        PrefixNeighbours.Find(Trie, [2, 4, 4], self: 9, k: 5).ShouldBeEmpty();
    }
}
