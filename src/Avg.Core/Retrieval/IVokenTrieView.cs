namespace Avg.Retrieval;

/// <summary>
/// What constrained beam search reads from a prefix trie: children of a node, the voken into a node, the images at
/// a leaf, and the order of nodes of one depth. <see cref="VokenTrie"/> is one; a view over cluster partitions
/// (<see cref="PartitionedVokenTrie"/>) is another, so both paths run the exact same step code.
/// </summary>
/// <remarks>Node ids are the view's own; node 0 is the root. Leaves are the nodes of depth <see cref="Levels"/>.</remarks>
public interface IVokenTrieView
{
    /// <summary>M: the length of every voken sequence.</summary>
    int Levels { get; }

    /// <summary>N: the codebook size.</summary>
    int CodebookSize { get; }

    /// <summary>True when no sequence is indexed (a search then returns nothing).</summary>
    bool IsEmpty { get; }

    /// <summary>Children of a node: vokens ascending, node ids consecutive from <see cref="TrieChildren.FirstNode"/>.</summary>
    TrieChildren ChildrenOf(int node);

    /// <summary>Voken on the edge into <paramref name="node"/> (-1 for the root).</summary>
    int VokenOf(int node);

    /// <summary>Images whose sequence ends at <paramref name="leaf"/>, in the view's deterministic order.</summary>
    ReadOnlySpan<long> ImagesAt(int leaf);

    /// <summary>
    /// Orders two nodes of the same depth as their prefixes compare lexicographically (negative: <paramref name="a"/>
    /// first). Beam search breaks exact score ties with it, so every view ranks ties the same way.
    /// </summary>
    int CompareNodes(int a, int b);

    /// <summary>
    /// Tells the view that the next step will expand these nodes (all of depth <paramref name="depth"/>), so a
    /// distributed view can start fetching what it lacks while the model scores the step.
    /// </summary>
    void WillExpand(ReadOnlySpan<int> nodes, int depth);
}
