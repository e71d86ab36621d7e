using System.Buffers.Binary;

namespace Avg.Retrieval;

/// <summary>
/// Prefix trie over the voken sequences of the indexed images (paper §3.3): the constraint that keeps beam
/// search on sequences that name an image, and the leaf → image-id map. Immutable and a few flat arrays.
/// </summary>
/// <remarks>
/// <para>Layout. Nodes are numbered breadth-first with each level in lexicographic order of its prefixes,
/// so (1) the children of a node are consecutive node ids, sorted by voken, and (2) at one depth a smaller
/// node id means a lexicographically smaller prefix — beam search uses that for deterministic tie-breaking.
/// Node 0 is the root (depth 0); leaves are exactly the nodes of depth <see cref="Levels"/>.</para>
/// <para>Several images may share one sequence; a leaf lists its images in ascending id order.</para>
/// <para>Adds and removes are done by rebuilding (<see cref="Build(IReadOnlyList{ValueTuple{long, int[]}}, int, int)"/>
/// from <see cref="Entries"/> plus or minus the change); the cluster keeps that cheap by partitioning the
/// trie by first voken (<see cref="ExtractPartition"/>).</para>
/// </remarks>
public sealed class VokenTrie : IVokenTrieView
{
    private const uint Magic = 0x54475641; // "AVGT" little-endian
    private const int FormatVersion = 1;

    /// <summary>Voken on the edge into each node (-1 for the root).</summary>
    private readonly int[] _nodeVoken;

    /// <summary>Parent of each node (-1 for the root).</summary>
    private readonly int[] _parent;

    /// <summary>Children of node n are nodes [_childStart[n], _childStart[n + 1]); size nodeCount + 1.</summary>
    private readonly int[] _childStart;

    /// <summary>Nodes of depth d are [_levelStart[d], _levelStart[d + 1]); size Levels + 2.</summary>
    private readonly int[] _levelStart;

    /// <summary>Dense first level: root child for each voken, -1 when absent; size CodebookSize.</summary>
    private readonly int[] _rootChild;

    /// <summary>Images of leaf ordinal l are _imageIds[_leafStart[l] .. _leafStart[l + 1]) (null when <see cref="_leafImages"/> holds them).</summary>
    private readonly int[]? _leafStart;

    private readonly long[]? _imageIds;

    /// <summary>Images of leaf ordinal l, one array per leaf (a query silo's cached partitions; null for the flat layout).</summary>
    private readonly long[][]? _leafImages;

    private readonly int _imageCount;

    private VokenTrie(int depth, int codebookSize, int[] nodeVoken, int[] childStart, int[] levelStart, int[] leafStart, long[] imageIds, int[]? parent = null)
    {
        Levels = depth;
        CodebookSize = codebookSize;
        _nodeVoken = nodeVoken;
        _childStart = childStart;
        _levelStart = levelStart;
        _leafStart = leafStart;
        _imageIds = imageIds;
        _imageCount = imageIds.Length;
        _parent = parent ?? Parents(nodeVoken.Length, childStart);
        _rootChild = RootChildren(codebookSize, nodeVoken, childStart);
        CollisionRate = ComputeCollisionRate();
    }

    /// <summary>The given nodes (arrays kept, not copied) with the images <paramref name="leafImages"/> at their leaves, one array per leaf.</summary>
    private VokenTrie(int depth, int codebookSize, int[] nodeVoken, int[] childStart, int[] levelStart, int[] parent, int[] rootChild, long[][] leafImages)
    {
        Levels = depth;
        CodebookSize = codebookSize;
        _nodeVoken = nodeVoken;
        _childStart = childStart;
        _levelStart = levelStart;
        _parent = parent;
        _rootChild = rootChild;
        _leafImages = leafImages;
        foreach (var images in leafImages)
        {
            _imageCount += images.Length;
        }

        CollisionRate = ComputeCollisionRate();
    }

    /// <summary>The root node id, where every search starts.</summary>
    public static int Root => 0;

    /// <summary>M: the length of every voken sequence, and the depth of every leaf.</summary>
    public int Levels { get; }

    /// <summary>N: the codebook size; vokens are in [0, N).</summary>
    public int CodebookSize { get; }

    public int NodeCount => _nodeVoken.Length;

    /// <summary>True when the trie holds no sequence.</summary>
    public bool IsEmpty => SequenceCount == 0;

    /// <summary>Distinct voken sequences (= leaves).</summary>
    public int SequenceCount => _leafImages?.Length ?? _leafStart!.Length - 1;

    public int ImageCount => _imageCount;

    /// <summary>Share of images whose full voken sequence is shared with at least one other image.</summary>
    public double CollisionRate { get; }

    /// <summary>First node id of the leaf level: leaf ordinals are node − FirstLeaf.</summary>
    public int FirstLeaf => _levelStart[Levels];

    /// <summary>An empty trie for sequences of length <paramref name="depth"/> over <paramref name="codebookSize"/> vokens.</summary>
    public static VokenTrie Empty(int depth, int codebookSize) =>
        Build(ReadOnlySpan<long>.Empty, ReadOnlySpan<int>.Empty, depth, codebookSize);

    /// <summary>Builds the trie of (image id, voken sequence) pairs; image ids must be unique.</summary>
    public static VokenTrie Build(IReadOnlyList<(long ImageId, int[] Vokens)> entries, int depth, int codebookSize)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var ids = new long[entries.Count];
        var vokens = new int[entries.Count * depth];
        for (var i = 0; i < entries.Count; i++)
        {
            var (id, seq) = entries[i];
            if (seq is null || seq.Length != depth)
            {
                throw new ArgumentException(
                    $"Image {id} has a voken sequence of length {seq?.Length ?? 0}, but the trie holds sequences of length {depth}.", nameof(entries));
            }

            ids[i] = id;
            seq.CopyTo(vokens, i * depth);
        }

        return Build(ids, vokens, depth, codebookSize);
    }

    /// <summary>Builds the trie from image ids and their sequences laid out row-major (count × depth).</summary>
    public static VokenTrie Build(ReadOnlySpan<long> imageIds, ReadOnlySpan<int> vokens, int depth, int codebookSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(codebookSize, 1);
        var count = imageIds.Length;
        if (vokens.Length != count * depth)
        {
            throw new ArgumentException($"Expected {count} × {depth} = {count * depth} vokens, got {vokens.Length}.", nameof(vokens));
        }

        for (var i = 0; i < vokens.Length; i++)
        {
            if ((uint)vokens[i] >= (uint)codebookSize)
            {
                throw new ArgumentException(
                    $"Image {imageIds[i / depth]} has voken {vokens[i]} at step {i % depth}; vokens must be in [0, {codebookSize}).", nameof(vokens));
            }
        }

        var ids = imageIds.ToArray();
        var seqs = vokens.ToArray();
        var order = new int[count];
        for (var i = 0; i < count; i++)
        {
            order[i] = i;
        }

        Array.Sort(order, (a, b) =>
        {
            var c = seqs.AsSpan(a * depth, depth).SequenceCompareTo(seqs.AsSpan(b * depth, depth));
            return c != 0 ? c : ids[a].CompareTo(ids[b]);
        });

        var sortedIds = new long[count];
        var sortedSeqs = new int[count * depth];
        for (var i = 0; i < count; i++)
        {
            sortedIds[i] = ids[order[i]];
            seqs.AsSpan(order[i] * depth, depth).CopyTo(sortedSeqs.AsSpan(i * depth, depth));
        }

        var byId = (long[])sortedIds.Clone();
        Array.Sort(byId);
        for (var i = 1; i < count; i++)
        {
            if (byId[i] == byId[i - 1])
            {
                throw new ArgumentException($"Image id {byId[i]} appears more than once; each image has one voken sequence.", nameof(imageIds));
            }
        }

        return FromSorted(sortedIds, sortedSeqs, depth, codebookSize);
    }

    /// <summary>
    /// Builds the trie of rows already in lexicographic order of their sequences (count × depth, row-major), image
    /// ids 0..count−1 in row order: no sort, linear time. A cluster partition keeps its images in this order.
    /// </summary>
    public static VokenTrie BuildSorted(ReadOnlySpan<int> vokens, int depth, int codebookSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(codebookSize, 1);
        if (vokens.Length % depth != 0)
        {
            throw new ArgumentException($"{vokens.Length} vokens are not whole rows of {depth}.", nameof(vokens));
        }

        var count = vokens.Length / depth;
        for (var i = 0; i < vokens.Length; i++)
        {
            if ((uint)vokens[i] >= (uint)codebookSize)
            {
                throw new ArgumentException($"Row {i / depth} has voken {vokens[i]} at step {i % depth}; vokens must be in [0, {codebookSize}).", nameof(vokens));
            }
        }

        for (var i = 1; i < count; i++)
        {
            if (vokens.Slice((i - 1) * depth, depth).SequenceCompareTo(vokens.Slice(i * depth, depth)) > 0)
            {
                throw new ArgumentException($"Row {i} sorts before row {i - 1}; BuildSorted takes rows in lexicographic order.", nameof(vokens));
            }
        }

        return FromSorted(Ordinals(count), vokens, depth, codebookSize);
    }

    /// <summary>
    /// The trie of distinct sequences <paramref name="leafSequences"/> (L × depth, strictly ascending) whose leaf l holds
    /// the images <paramref name="leafImages"/>[l] in the order given, which is the order search hands them out (a query
    /// silo's cached partition keeps them in ranking order, not by id). Linear in the leaves; the arrays are kept, not
    /// copied, so a changed copy can share every leaf it does not change.
    /// </summary>
    public static VokenTrie FromLeaves(ReadOnlySpan<int> leafSequences, int depth, int codebookSize, long[][] leafImages)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(codebookSize, 1);
        if (leafSequences.Length % depth != 0)
        {
            throw new ArgumentException($"{leafSequences.Length} vokens are not whole rows of {depth}.", nameof(leafSequences));
        }

        var leaves = leafSequences.Length / depth;
        CheckLeafImages(leaves, leafImages);
        for (var i = 0; i < leafSequences.Length; i++)
        {
            if ((uint)leafSequences[i] >= (uint)codebookSize)
            {
                throw new ArgumentException($"Leaf {i / depth} has voken {leafSequences[i]} at step {i % depth}; vokens must be in [0, {codebookSize}).", nameof(leafSequences));
            }
        }

        for (var l = 1; l < leaves; l++)
        {
            if (leafSequences.Slice((l - 1) * depth, depth).SequenceCompareTo(leafSequences.Slice(l * depth, depth)) >= 0)
            {
                throw new ArgumentException($"Leaf {l} does not sort after leaf {l - 1}; FromLeaves takes distinct sequences in lexicographic order.", nameof(leafSequences));
            }
        }

        var nodes = BuildNodes(leafSequences, leaves, depth);
        return new VokenTrie(depth, codebookSize, nodes.NodeVoken, nodes.ChildStart, nodes.LevelStart, nodes.Parent, RootChildren(codebookSize, nodes.NodeVoken, nodes.ChildStart), leafImages);
    }

    /// <summary>
    /// This trie's nodes (shared, not copied) with other images at its leaves: leaf l holds
    /// <paramref name="leafImages"/>[l], in the order given. Linear in the leaves.
    /// </summary>
    public VokenTrie WithLeafImages(long[][] leafImages)
    {
        CheckLeafImages(SequenceCount, leafImages);
        return new VokenTrie(Levels, CodebookSize, _nodeVoken, _childStart, _levelStart, _parent, _rootChild, leafImages);
    }

    private static void CheckLeafImages(int leaves, long[][] leafImages)
    {
        ArgumentNullException.ThrowIfNull(leafImages);
        if (leafImages.Length != leaves)
        {
            throw new ArgumentException($"{leaves} leaves need {leaves} image arrays; got {leafImages.Length}.", nameof(leafImages));
        }

        for (var l = 0; l < leaves; l++)
        {
            if (leafImages[l] is not { Length: > 0 })
            {
                throw new ArgumentException($"Leaf {l} holds no image: every leaf of a trie holds at least one.", nameof(leafImages));
            }
        }
    }

    private static long[] Ordinals(int count)
    {
        var ids = new long[count];
        for (var i = 0; i < count; i++)
        {
            ids[i] = i;
        }

        return ids;
    }

    private double ComputeCollisionRate()
    {
        var collided = 0;
        for (var l = 0; l < SequenceCount; l++)
        {
            var count = Leaf(l).Length;
            if (count > 1)
            {
                collided += count;
            }
        }

        return _imageCount == 0 ? 0 : (double)collided / _imageCount;
    }

    /// <summary>The images of leaf ordinal <paramref name="l"/>.</summary>
    private ReadOnlySpan<long> Leaf(int l) =>
        _leafImages is { } perLeaf ? perLeaf[l] : _imageIds.AsSpan(_leafStart![l], _leafStart[l + 1] - _leafStart[l]);

    /// <summary>The trie of rows sorted by (sequence, id).</summary>
    private static VokenTrie FromSorted(long[] sortedIds, ReadOnlySpan<int> seqs, int depth, int codebookSize)
    {
        var count = sortedIds.Length;
        var nodes = BuildNodes(seqs, count, depth);
        var leafCount = nodes.LevelStart[depth + 1] - nodes.LevelStart[depth];
        var leafStart = new int[leafCount + 1];
        var firstLeaf = nodes.LevelStart[depth];
        for (var i = 0; i < count; i++)
        {
            leafStart[nodes.LeafOf[i] - firstLeaf + 1]++;
        }

        for (var l = 0; l < leafCount; l++)
        {
            leafStart[l + 1] += leafStart[l];
        }

        return new VokenTrie(depth, codebookSize, nodes.NodeVoken, nodes.ChildStart, nodes.LevelStart, leafStart, sortedIds, nodes.Parent);
    }

    /// <summary>
    /// The nodes of <paramref name="count"/> sorted rows of <paramref name="seqs"/>, level by level. Because the rows are
    /// sorted, a new node starts exactly where the parent or the voken changes, giving BFS ids in lexicographic order.
    /// The node count is taken first (a row starts a node at every depth past its common prefix with the row before),
    /// so every array is allocated once at its size: a query silo rebuilds a partition's nodes whenever a change brings
    /// a new sequence, and what it allocates there is most of what it allocates during ingest (docs/cluster.md).
    /// </summary>
    private static Nodes BuildNodes(ReadOnlySpan<int> seqs, int count, int depth)
    {
        var nodeCount = 1;
        for (var i = 0; i < count; i++)
        {
            nodeCount += i == 0 ? depth : depth - seqs.Slice((i - 1) * depth, depth).CommonPrefixLength(seqs.Slice(i * depth, depth));
        }

        var nodeVoken = new int[nodeCount];
        var parent = new int[nodeCount];
        (nodeVoken[0], parent[0]) = (-1, -1);
        var next = 1;
        var levelStart = new int[depth + 2];
        levelStart[1] = 1;
        var nodeOf = new int[count];
        for (var d = 0; d < depth; d++)
        {
            int current = -1, previousParent = -1, previousVoken = -1;
            for (var i = 0; i < count; i++)
            {
                var parentNode = nodeOf[i];
                var voken = seqs[(i * depth) + d];
                if (parentNode != previousParent || voken != previousVoken)
                {
                    current = next++;
                    (nodeVoken[current], parent[current]) = (voken, parentNode);
                    (previousParent, previousVoken) = (parentNode, voken);
                }

                nodeOf[i] = current;
            }

            levelStart[d + 2] = next;
        }

        var childStart = new int[nodeCount + 1];
        for (var n = 1; n < nodeCount; n++)
        {
            childStart[parent[n] + 1]++;
        }

        childStart[0] = 1;
        for (var n = 0; n < nodeCount; n++)
        {
            childStart[n + 1] += childStart[n];
        }

        return new Nodes(nodeVoken, childStart, levelStart, parent, nodeOf);
    }

    private static int[] Parents(int nodeCount, int[] childStart)
    {
        var parent = new int[nodeCount];
        parent[0] = -1;
        for (var n = 0; n < nodeCount; n++)
        {
            for (var c = childStart[n]; c < childStart[n + 1]; c++)
            {
                parent[c] = n;
            }
        }

        return parent;
    }

    private static int[] RootChildren(int codebookSize, int[] nodeVoken, int[] childStart)
    {
        var rootChild = new int[codebookSize];
        Array.Fill(rootChild, -1);
        for (var c = childStart[0]; c < childStart[1]; c++)
        {
            rootChild[nodeVoken[c]] = c;
        }

        return rootChild;
    }

    /// <summary>A trie's node arrays, and the leaf node of each row they were built from.</summary>
    private readonly record struct Nodes(int[] NodeVoken, int[] ChildStart, int[] LevelStart, int[] Parent, int[] LeafOf);

    /// <summary>The sub-trie of the sequences that start with <paramref name="firstVoken"/>: one cluster partition.</summary>
    public VokenTrie ExtractPartition(int firstVoken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(firstVoken);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(firstVoken, CodebookSize);
        var node = _rootChild[firstVoken];
        if (node < 0)
        {
            return Empty(Levels, CodebookSize);
        }

        var (first, last) = LeafRange(node);
        var total = 0;
        for (var leaf = first; leaf < last; leaf++)
        {
            total += Leaf(leaf - FirstLeaf).Length;
        }

        var ids = new long[total];
        var vokens = new int[total * Levels];
        CopyEntries(node, ids, vokens, 0);
        return Build(ids, vokens, Levels, CodebookSize);
    }

    /// <summary>First vokens that have a sequence, ascending: the partition keys of this trie.</summary>
    public ReadOnlySpan<int> FirstVokens => ChildrenOf(Root).Vokens;

    /// <summary>Children of a node: their vokens (ascending) and the id of the first; the i-th child is FirstNode + i.</summary>
    public TrieChildren ChildrenOf(int node)
    {
        var start = _childStart[node];
        return new TrieChildren(_nodeVoken.AsSpan(start, _childStart[node + 1] - start), start);
    }

    /// <summary>Follows the edge labelled <paramref name="voken"/> out of <paramref name="node"/>, if any.</summary>
    public bool TryGetChild(int node, int voken, out int child)
    {
        if ((uint)voken >= (uint)CodebookSize)
        {
            child = -1;
            return false;
        }

        if (node == Root)
        {
            child = _rootChild[voken];
            return child >= 0;
        }

        var start = _childStart[node];
        var i = _nodeVoken.AsSpan(start, _childStart[node + 1] - start).BinarySearch(voken);
        child = i >= 0 ? start + i : -1;
        return i >= 0;
    }

    /// <summary>Voken on the edge into <paramref name="node"/> (-1 for the root).</summary>
    public int VokenOf(int node) => _nodeVoken[node];

    /// <summary>Node ids of one depth are numbered in lexicographic order of their prefixes.</summary>
    public int CompareNodes(int a, int b) => a.CompareTo(b);

    /// <summary>Nothing to prepare: the whole trie is in memory.</summary>
    public void WillExpand(ReadOnlySpan<int> nodes, int depth)
    {
    }

    public int ParentOf(int node) => _parent[node];

    public int DepthOf(int node)
    {
        var d = 0;
        while (node >= _levelStart[d + 1])
        {
            d++;
        }

        return d;
    }

    public bool IsLeaf(int node) => node >= _levelStart[Levels] && node < _levelStart[Levels + 1];

    /// <summary>Images whose voken sequence ends at this leaf: ascending by id, or in the order given to <see cref="FromLeaves"/> or <see cref="WithLeafImages"/>.</summary>
    public ReadOnlySpan<long> ImagesAt(int leaf)
    {
        if (!IsLeaf(leaf))
        {
            throw new ArgumentOutOfRangeException(nameof(leaf), leaf, $"Node {leaf} is not a leaf (leaves are nodes {FirstLeaf}..{_levelStart[Levels + 1] - 1}).");
        }

        var l = leaf - FirstLeaf;
        return Leaf(l);
    }

    /// <summary>Writes the voken prefix that leads to <paramref name="node"/> into <paramref name="destination"/>.</summary>
    public void PrefixOf(int node, Span<int> destination)
    {
        var d = DepthOf(node);
        for (var i = d - 1; i >= 0; i--)
        {
            destination[i] = _nodeVoken[node];
            node = _parent[node];
        }
    }

    /// <summary>Leaf node of a full sequence, or -1 when the sequence is not in the trie.</summary>
    public int Find(ReadOnlySpan<int> vokens) => vokens.Length == Levels ? FindNode(vokens) : -1;

    /// <summary>Node reached by a prefix of any length up to <see cref="Levels"/> (a partition expanding a prefix), or -1.</summary>
    public int FindNode(ReadOnlySpan<int> vokens)
    {
        if (vokens.Length > Levels)
        {
            return -1;
        }

        var node = Root;
        foreach (var v in vokens)
        {
            if (!TryGetChild(node, v, out node))
            {
                return -1;
            }
        }

        return node;
    }

    /// <summary>All (image id, vokens) pairs, in sequence order then id order: the input to a rebuild.</summary>
    public IReadOnlyList<(long ImageId, int[] Vokens)> Entries()
    {
        var ids = new long[ImageCount];
        var vokens = new int[ImageCount * Levels];
        CopyEntries(Root, ids, vokens, 0);
        var result = new (long, int[])[ImageCount];
        for (var i = 0; i < ids.Length; i++)
        {
            result[i] = (ids[i], vokens.AsSpan(i * Levels, Levels).ToArray());
        }

        return result;
    }

    /// <summary>Nodes [first, last) of the leaf level below <paramref name="node"/>.</summary>
    private (int First, int Last) LeafRange(int node)
    {
        int first = node, last = node + 1;
        while (first < FirstLeaf)
        {
            // Descendants of a contiguous node range are a contiguous range on the next level.
            var nextFirst = _childStart[first];
            last = _childStart[last];
            first = nextFirst;
        }

        return (first, last);
    }

    private int CopyEntries(int node, long[] ids, int[] vokens, int at)
    {
        var (first, last) = LeafRange(node);
        for (var leaf = first; leaf < last; leaf++)
        {
            foreach (var id in Leaf(leaf - FirstLeaf))
            {
                ids[at] = id;
                PrefixOf(leaf, vokens.AsSpan(at * Levels, Levels));
                at++;
            }
        }

        return at;
    }

    /// <summary>Writes the trie as a versioned little-endian binary blob (header, then the flat arrays).</summary>
    public void WriteTo(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        writer.Write(Magic);
        writer.Write(FormatVersion);
        writer.Write(Levels);
        writer.Write(CodebookSize);
        writer.Write(NodeCount);
        writer.Write(ImageCount);
        WriteInts(writer, _nodeVoken.AsSpan(1));
        WriteInts(writer, _childStart);
        WriteInts(writer, _levelStart);
        var leafStart = new int[SequenceCount + 1];
        for (var l = 0; l < SequenceCount; l++)
        {
            leafStart[l + 1] = leafStart[l] + Leaf(l).Length;
        }

        WriteInts(writer, leafStart);
        Span<byte> buffer = stackalloc byte[8];
        for (var l = 0; l < SequenceCount; l++)
        {
            foreach (var id in Leaf(l))
            {
                BinaryPrimitives.WriteInt64LittleEndian(buffer, id);
                writer.Write(buffer);
            }
        }
    }

    private static void WriteInts(BinaryWriter writer, ReadOnlySpan<int> values)
    {
        Span<byte> buffer = stackalloc byte[4];
        foreach (var v in values)
        {
            BinaryPrimitives.WriteInt32LittleEndian(buffer, v);
            writer.Write(buffer);
        }
    }

    /// <summary>Reads a trie written by <see cref="WriteTo"/>; checks the header and the array invariants.</summary>
    /// <exception cref="DataFormatException">The stream is not a voken trie of a supported version, or is damaged.</exception>
    public static VokenTrie ReadFrom(Stream stream, string sourceName = "voken trie")
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var reader = new BinaryReader(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        try
        {
            if (reader.ReadUInt32() != Magic)
            {
                throw new DataFormatException(sourceName, "not a voken trie (bad magic number).");
            }

            var version = reader.ReadInt32();
            if (version != FormatVersion)
            {
                throw new DataFormatException(sourceName, $"voken trie format version {version}; this build reads version {FormatVersion}.");
            }

            var depth = reader.ReadInt32();
            var vocabulary = reader.ReadInt32();
            var nodeCount = reader.ReadInt32();
            var imageCount = reader.ReadInt32();
            if (depth < 1 || vocabulary < 1 || nodeCount < 1 || imageCount < 0)
            {
                throw new DataFormatException(sourceName, $"bad header (depth {depth}, vocabulary {vocabulary}, nodes {nodeCount}, images {imageCount}).");
            }

            var nodeVoken = new int[nodeCount];
            nodeVoken[0] = -1;
            ReadInts(reader, nodeVoken.AsSpan(1));
            var childStart = ReadInts(reader, nodeCount + 1);
            var levelStart = ReadInts(reader, depth + 2);
            var leafCount = levelStart[depth + 1] - levelStart[depth];
            if (leafCount < 0 || leafCount > nodeCount)
            {
                throw new DataFormatException(sourceName, "damaged voken trie (bad level table).");
            }

            var leafStart = ReadInts(reader, leafCount + 1);
            var ids = new long[imageCount];
            for (var i = 0; i < imageCount; i++)
            {
                ids[i] = reader.ReadInt64();
            }

            var problem = Check(depth, vocabulary, nodeVoken, childStart, levelStart, leafStart, imageCount);
            if (problem is not null)
            {
                throw new DataFormatException(sourceName, $"damaged voken trie ({problem}).");
            }

            return new VokenTrie(depth, vocabulary, nodeVoken, childStart, levelStart, leafStart, ids);
        }
        catch (EndOfStreamException e)
        {
            throw new DataFormatException(sourceName, "voken trie ends early (truncated file?).", e);
        }
    }

    private static int[] ReadInts(BinaryReader reader, int count)
    {
        var values = new int[count];
        ReadInts(reader, values);
        return values;
    }

    private static void ReadInts(BinaryReader reader, Span<int> values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = reader.ReadInt32();
        }
    }

    private static string? Check(int depth, int vocabulary, int[] nodeVoken, int[] childStart, int[] levelStart, int[] leafStart, int imageCount)
    {
        var nodeCount = nodeVoken.Length;
        if (levelStart[0] != 0 || levelStart[1] != 1 || levelStart[depth + 1] != nodeCount)
        {
            return "level table does not cover the nodes";
        }

        for (var d = 0; d <= depth; d++)
        {
            if (levelStart[d + 1] < levelStart[d])
            {
                return "level table not ascending";
            }
        }

        if (childStart[0] != 1 || childStart[nodeCount] != nodeCount)
        {
            return "child table does not cover the nodes";
        }

        // Children of level d start at level d + 1 (with the ascending check below: are exactly level d + 1); leaves have none.
        for (var d = 0; d < depth; d++)
        {
            if (childStart[levelStart[d]] != levelStart[d + 1])
            {
                return $"children of level {d} are not level {d + 1}";
            }
        }

        if (childStart[levelStart[depth]] != nodeCount)
        {
            return "leaves have children";
        }

        for (var n = 0; n < nodeCount; n++)
        {
            if (childStart[n + 1] < childStart[n])
            {
                return "child table not ascending";
            }

            if (n < levelStart[depth] && childStart[n + 1] == childStart[n] && nodeCount > 1)
            {
                return $"inner node {n} has no children";
            }

            for (var c = childStart[n]; c < childStart[n + 1]; c++)
            {
                if ((uint)nodeVoken[c] >= (uint)vocabulary || (c > childStart[n] && nodeVoken[c] <= nodeVoken[c - 1]))
                {
                    return $"children of node {n} out of range or not sorted";
                }
            }
        }

        if (leafStart[0] != 0 || leafStart[^1] != imageCount)
        {
            return "leaf table does not cover the images";
        }

        for (var l = 0; l + 1 < leafStart.Length; l++)
        {
            if (leafStart[l + 1] <= leafStart[l])
            {
                return "a leaf without images";
            }
        }

        return null;
    }
}

/// <summary>The children of one trie node: their vokens (ascending) and consecutive node ids from <see cref="FirstNode"/>.</summary>
public readonly ref struct TrieChildren
{
    public TrieChildren(ReadOnlySpan<int> vokens, int firstNode)
    {
        Vokens = vokens;
        FirstNode = firstNode;
    }

    public ReadOnlySpan<int> Vokens { get; }

    public int FirstNode { get; }

    public int Count => Vokens.Length;

    public int NodeAt(int index) => FirstNode + index;
}
