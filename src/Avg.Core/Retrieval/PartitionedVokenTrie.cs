namespace Avg.Retrieval;

/// <summary>Where a <see cref="PartitionedVokenTrie"/> gets the sub-trie of one first voken (e.g. a cluster partition).</summary>
public interface IVokenPartitionSource
{
    /// <summary>Starts getting these partitions if they are not at hand yet; returns at once.</summary>
    void Prefetch(ReadOnlySpan<int> firstVokens);

    /// <summary>
    /// The sub-trie of sequences starting with <paramref name="firstVoken"/> (as <see cref="VokenTrie.ExtractPartition"/>
    /// gives), with image ids in [0, 2^40); waits for it when needed.
    /// </summary>
    VokenTrie Load(int firstVoken);
}

/// <summary>
/// The whole trie seen through its partitions by first voken (docs/design.md §2.3 "The query path"): the root's
/// children are the first vokens that exist (from the index catalog), and a partition is loaded only when beam
/// search reaches it. Constrained beam search over this view equals the search over the merged trie: the same
/// children in the same order at every node, and ties broken by the same lexicographic order.
/// </summary>
/// <remarks>
/// Node ids: root 0; first-level node i+1 for the i-th first voken; deeper nodes of each loaded partition in a block
/// of their own, in load order. Image ids the view hands out are <see cref="ImageKey"/>s (first voken, partition's id).
/// Loads happen on the searching thread, so an instance is not thread-safe, like the search itself.
/// </remarks>
public sealed class PartitionedVokenTrie : IVokenTrieView
{
    private const int LocalIdBits = 40;
    private const long LocalIdMask = (1L << LocalIdBits) - 1;

    private readonly int[] _firstVokens;
    private readonly IVokenPartitionSource _source;
    private readonly int[] _slotOfFirst;
    private readonly List<Slot> _slots = [];
    private readonly List<int> _slotBases = [];
    private int _nextBase;

    /// <param name="firstVokens">First vokens that have at least one sequence, strictly ascending.</param>
    public PartitionedVokenTrie(int depth, int codebookSize, int[] firstVokens, IVokenPartitionSource source)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(codebookSize, 1);
        ArgumentNullException.ThrowIfNull(firstVokens);
        ArgumentNullException.ThrowIfNull(source);
        for (var i = 0; i < firstVokens.Length; i++)
        {
            if ((uint)firstVokens[i] >= (uint)codebookSize || (i > 0 && firstVokens[i] <= firstVokens[i - 1]))
            {
                throw new ArgumentException($"First vokens must be distinct, ascending and in [0, {codebookSize}); got {firstVokens[i]} at {i}.", nameof(firstVokens));
            }
        }

        Levels = depth;
        CodebookSize = codebookSize;
        _firstVokens = firstVokens;
        _source = source;
        _slotOfFirst = new int[firstVokens.Length];
        Array.Fill(_slotOfFirst, -1);
        _nextBase = firstVokens.Length + 1;
    }

    public int Levels { get; }

    public int CodebookSize { get; }

    public bool IsEmpty => _firstVokens.Length == 0;

    /// <summary>First vokens whose partitions this view loaded so far (the partitions a search touched).</summary>
    public IEnumerable<int> LoadedPartitions => _slots.Select(s => s.FirstVoken);

    /// <summary>The id this view gives image <paramref name="localId"/> of partition <paramref name="firstVoken"/>.</summary>
    public static long ImageKey(int firstVoken, long localId) => ((long)firstVoken << LocalIdBits) | (localId & LocalIdMask);

    /// <summary>Splits an id from <see cref="ImagesAt"/> into its partition and the partition's own image id.</summary>
    public static (int FirstVoken, long LocalId) SplitImageKey(long key) => ((int)(key >> LocalIdBits), key & LocalIdMask);

    public TrieChildren ChildrenOf(int node)
    {
        if (node == VokenTrie.Root)
        {
            return new TrieChildren(_firstVokens, 1);
        }

        var (slot, local) = Locate(node);
        var children = slot.Trie.ChildrenOf(local);
        return new TrieChildren(children.Vokens, ToGlobal(slot, children.FirstNode));
    }

    public int VokenOf(int node)
    {
        if (node == VokenTrie.Root)
        {
            return -1;
        }

        if (node <= _firstVokens.Length)
        {
            return _firstVokens[node - 1];
        }

        var (slot, local) = Locate(node);
        return slot.Trie.VokenOf(local);
    }

    public ReadOnlySpan<long> ImagesAt(int leaf)
    {
        var (slot, local) = Locate(leaf);
        var ids = slot.Trie.ImagesAt(local);
        var keys = new long[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            keys[i] = ImageKey(slot.FirstVoken, ids[i]);
        }

        return keys;
    }

    public int CompareNodes(int a, int b)
    {
        if (a <= _firstVokens.Length || b <= _firstVokens.Length)
        {
            // Root and first level: ids follow the ascending first vokens.
            return a.CompareTo(b);
        }

        var (slotA, localA) = Locate(a);
        var (slotB, localB) = Locate(b);
        var byFirst = slotA.FirstVoken.CompareTo(slotB.FirstVoken);
        return byFirst != 0 ? byFirst : localA.CompareTo(localB);
    }

    public void WillExpand(ReadOnlySpan<int> nodes, int depth)
    {
        if (depth != 1)
        {
            return;
        }

        Span<int> wanted = nodes.Length <= 256 ? stackalloc int[nodes.Length] : new int[nodes.Length];
        var count = 0;
        foreach (var node in nodes)
        {
            if (_slotOfFirst[node - 1] < 0)
            {
                wanted[count++] = _firstVokens[node - 1];
            }
        }

        if (count > 0)
        {
            _source.Prefetch(wanted[..count]);
        }
    }

    /// <summary>The partition and partition-local node of a node below the root.</summary>
    private (Slot Slot, int Local) Locate(int node)
    {
        if (node <= _firstVokens.Length)
        {
            // A first-level node is node 1 of its partition (the partition's root has exactly one child).
            return (SlotOfFirst(node - 1), 1);
        }

        var index = _slotBases.BinarySearch(node);
        if (index < 0)
        {
            index = ~index - 1;
        }

        var slot = _slots[index];
        return (slot, node - slot.Base + 2);
    }

    private static int ToGlobal(Slot slot, int local) => slot.Base + local - 2;

    private Slot SlotOfFirst(int firstIndex)
    {
        var s = _slotOfFirst[firstIndex];
        if (s >= 0)
        {
            return _slots[s];
        }

        var firstVoken = _firstVokens[firstIndex];
        var trie = _source.Load(firstVoken);
        if (trie.Levels != Levels || trie.CodebookSize != CodebookSize || trie.FirstVokens.Length != 1 || trie.FirstVokens[0] != firstVoken)
        {
            throw new AvgException(
                $"Partition {firstVoken} holds a trie of {trie.Levels} × {trie.CodebookSize} starting with [{string.Join(',', trie.FirstVokens.ToArray())}]; expected depth {Levels}, {CodebookSize} vokens, first voken {firstVoken}. The index catalog and its partitions disagree.");
        }

        var slot = new Slot(firstVoken, trie, _nextBase);
        _nextBase += trie.NodeCount - 2;
        _slotOfFirst[firstIndex] = _slots.Count;
        _slots.Add(slot);
        _slotBases.Add(slot.Base);
        return slot;
    }

    private sealed record Slot(int FirstVoken, VokenTrie Trie, int Base);
}
