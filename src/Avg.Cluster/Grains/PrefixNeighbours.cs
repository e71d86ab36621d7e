using Avg.Retrieval;

namespace Avg.Cluster.Grains;

/// <summary>
/// Nearest images of an indexed image by shared voken prefix: first those at its own leaf, then the subtrees of its
/// leaf's siblings (sharing M−1 vokens), then of its parent's siblings, and so on up to the partition's first voken.
/// Walks only as much of the trie as it returns, in trie order (deterministic).
/// </summary>
internal static class PrefixNeighbours
{
    /// <summary>Up to <paramref name="k"/> local image ids nearest to <paramref name="self"/> (whose sequence is <paramref name="vokens"/>), nearest first.</summary>
    public static long[] Find(VokenTrie trie, ReadOnlySpan<int> vokens, long self, int k)
    {
        ArgumentNullException.ThrowIfNull(trie);
        var result = new List<long>(k);
        var node = trie.Find(vokens);
        if (node < 0 || k <= 0)
        {
            return [];
        }

        AddLeaf(trie, node, self, k, result);
        while (result.Count < k && trie.ParentOf(node) != VokenTrie.Root)
        {
            var parent = trie.ParentOf(node);
            var children = trie.ChildrenOf(parent);
            for (var i = 0; i < children.Count && result.Count < k; i++)
            {
                if (children.NodeAt(i) != node)
                {
                    AddSubtree(trie, children.NodeAt(i), self, k, result);
                }
            }

            node = parent;
        }

        return [.. result];
    }

    private static void AddSubtree(VokenTrie trie, int node, long self, int k, List<long> result)
    {
        if (trie.IsLeaf(node))
        {
            AddLeaf(trie, node, self, k, result);
            return;
        }

        var children = trie.ChildrenOf(node);
        for (var i = 0; i < children.Count && result.Count < k; i++)
        {
            AddSubtree(trie, children.NodeAt(i), self, k, result);
        }
    }

    private static void AddLeaf(VokenTrie trie, int leaf, long self, int k, List<long> result)
    {
        foreach (var image in trie.ImagesAt(leaf))
        {
            if (result.Count >= k)
            {
                return;
            }

            if (image != self)
            {
                result.Add(image);
            }
        }
    }
}
