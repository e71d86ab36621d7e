using Avg.Retrieval;
using Avg.Tests.Support;
using FsCheck.Xunit;

namespace Avg.Core.Tests.Retrieval;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class VokenTrieTests
{
    /// <summary>A trie made from its leaves (one image array each) is the built trie, byte for byte, and shares nodes when only images change.</summary>
    [Property(MaxTest = 200)]
    public void Trie_from_leaves_equals_the_built_trie_and_keeps_the_given_order(int seed)
    {
        var (entries, depth, vocabulary) = RandomTries.Entries(seed);
        var built = VokenTrie.Build(entries, depth, vocabulary);
        var groups = entries.GroupBy(e => string.Join(',', e.Vokens)).Select(g => (Vokens: g.First().Vokens, Ids: g.Select(e => e.ImageId).Order().ToArray()))
            .OrderBy(g => g.Vokens, Comparer<int[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b))).ToArray();
        var fromLeaves = VokenTrie.FromLeaves(groups.SelectMany(g => g.Vokens).ToArray(), depth, vocabulary, groups.Select(g => g.Ids).ToArray());
        Bytes(fromLeaves).ShouldBe(Bytes(built));
        fromLeaves.CollisionRate.ShouldBe(built.CollisionRate);

        // Other images at the same leaves, in an order of the caller's: the nodes stay, the images come as given.
        var reversed = groups.Select(g => g.Ids.Reverse().Select(id => id + 1000).ToArray()).ToArray();
        var relabelled = built.WithLeafImages(reversed);
        relabelled.NodeCount.ShouldBe(built.NodeCount);
        relabelled.ImageCount.ShouldBe(built.ImageCount);
        for (var l = 0; l < groups.Length; l++)
        {
            relabelled.ImagesAt(relabelled.Find(groups[l].Vokens)).ToArray().ShouldBe(reversed[l]);
        }
    }

    [Fact]
    public void Trie_from_leaves_refuses_unsorted_or_empty_leaves()
    {
        Should.Throw<ArgumentException>(() => VokenTrie.FromLeaves([1, 0, 0, 1], 2, 4, [[1L], [2L]])).Message.ShouldContain("does not sort after");
        Should.Throw<ArgumentException>(() => VokenTrie.FromLeaves([0, 1, 1, 0], 2, 4, [[1L], []])).Message.ShouldContain("holds no image");
        Should.Throw<ArgumentException>(() => VokenTrie.FromLeaves([0, 1, 1, 0], 2, 4, [[1L]])).Message.ShouldContain("need 2 image arrays");
        Should.Throw<ArgumentException>(() => VokenTrie.FromLeaves([0, 9], 2, 4, [[1L]])).Message.ShouldContain("must be in [0, 4)");
    }

    [Property(MaxTest = 200)]
    public void Every_inserted_sequence_is_reachable_and_lists_its_images(int seed)
    {
        var (entries, depth, vocabulary) = RandomTries.Entries(seed);
        var trie = VokenTrie.Build(entries, depth, vocabulary);

        trie.ImageCount.ShouldBe(entries.Count);
        foreach (var (id, vokens) in entries)
        {
            var leaf = trie.Find(vokens);
            leaf.ShouldBeGreaterThanOrEqualTo(0);
            trie.IsLeaf(leaf).ShouldBeTrue();
            trie.DepthOf(leaf).ShouldBe(depth);
            var images = trie.ImagesAt(leaf).ToArray();
            images.ShouldContain(id);
            images.ShouldBe(entries.Where(e => e.Vokens.SequenceEqual(vokens)).Select(e => e.ImageId).Order().ToArray());
            var prefix = new int[depth];
            trie.PrefixOf(leaf, prefix);
            prefix.ShouldBe(vokens);
            for (var length = 0; length <= depth; length++)
            {
                var node = trie.FindNode(vokens.AsSpan(0, length));
                trie.DepthOf(node).ShouldBe(length);
            }
        }
    }

    [Property(MaxTest = 200)]
    public void Children_are_sorted_unique_and_one_level_down(int seed)
    {
        var trie = RandomTries.Trie(seed);
        var leaves = 0;
        for (var node = 0; node < trie.NodeCount; node++)
        {
            var children = trie.ChildrenOf(node);
            for (var i = 0; i < children.Count; i++)
            {
                if (i > 0)
                {
                    children.Vokens[i].ShouldBeGreaterThan(children.Vokens[i - 1]);
                }

                var child = children.NodeAt(i);
                trie.ParentOf(child).ShouldBe(node);
                trie.VokenOf(child).ShouldBe(children.Vokens[i]);
                trie.DepthOf(child).ShouldBe(trie.DepthOf(node) + 1);
                trie.TryGetChild(node, children.Vokens[i], out var found).ShouldBeTrue();
                found.ShouldBe(child);
            }

            if (trie.IsLeaf(node))
            {
                leaves++;
                children.Count.ShouldBe(0);
                trie.ImagesAt(node).Length.ShouldBeGreaterThan(0);
                trie.ImagesAt(node).ToArray().ShouldBeInOrder();
            }
            else if (trie.SequenceCount > 0)
            {
                children.Count.ShouldBeGreaterThan(0, "every inner node of a non-empty trie leads to a leaf");
            }
        }

        leaves.ShouldBe(trie.SequenceCount);
        trie.TryGetChild(VokenTrie.Root, trie.CodebookSize, out _).ShouldBeFalse();
    }

    [Property(MaxTest = 200)]
    public void Sequence_count_and_collision_rate_match_a_direct_count(int seed)
    {
        var (entries, depth, vocabulary) = RandomTries.Entries(seed);
        var trie = VokenTrie.Build(entries, depth, vocabulary);
        var groups = entries.GroupBy(e => string.Join(',', e.Vokens)).ToList();

        trie.SequenceCount.ShouldBe(groups.Count);
        var collided = groups.Where(g => g.Count() > 1).Sum(g => g.Count());
        trie.CollisionRate.ShouldBe(entries.Count == 0 ? 0 : (double)collided / entries.Count);
    }

    [Fact]
    public void Collision_rate_by_hand()
    {
        // Images 1, 2, 3 share [0, 1]; 4 is alone; 5 and 6 share [2, 2]: 5 of 7 images collide.
        var trie = VokenTrie.Build(
            [(3, [0, 1]), (1, [0, 1]), (2, [0, 1]), (4, [1, 0]), (6, [2, 2]), (5, [2, 2]), (7, [0, 0])], depth: 2, codebookSize: 3);

        trie.SequenceCount.ShouldBe(4);
        trie.ImageCount.ShouldBe(7);
        trie.CollisionRate.ShouldBe(5.0 / 7.0);
        trie.ImagesAt(trie.Find([0, 1])).ToArray().ShouldBe([1L, 2L, 3L]);
        trie.FirstVokens.ToArray().ShouldBe([0, 1, 2]);
        trie.Find([1, 1]).ShouldBe(-1);
    }

    [Property(MaxTest = 100)]
    public void Serialisation_round_trips(int seed)
    {
        var trie = RandomTries.Trie(seed);
        using var stream = new MemoryStream();
        trie.WriteTo(stream);
        stream.Position = 0;

        var read = VokenTrie.ReadFrom(stream);

        ShouldBeSame(read, trie);
    }

    [Fact]
    public void Reading_a_damaged_stream_says_what_is_wrong()
    {
        var trie = RandomTries.Trie(seed: 7);
        using var stream = new MemoryStream();
        trie.WriteTo(stream);
        var bytes = stream.ToArray();

        Should.Throw<DataFormatException>(() => VokenTrie.ReadFrom(new MemoryStream(bytes[..^3]), "t.bin")).Message.ShouldContain("truncated");
        var badVersion = (byte[])bytes.Clone();
        badVersion[4] = 99;
        Should.Throw<DataFormatException>(() => VokenTrie.ReadFrom(new MemoryStream(badVersion), "t.bin")).Message.ShouldContain("version 99");
        Should.Throw<DataFormatException>(() => VokenTrie.ReadFrom(new MemoryStream(new byte[64]), "t.bin")).Message.ShouldContain("magic");
    }

    [Property(MaxTest = 100)]
    public void Partitions_by_first_voken_hold_every_image_of_the_original_once(int seed)
    {
        var trie = RandomTries.Trie(seed);
        var partitions = new List<VokenTrie>();
        for (var v = 0; v < trie.CodebookSize; v++)
        {
            var partition = trie.ExtractPartition(v);
            partition.FirstVokens.Length.ShouldBeLessThanOrEqualTo(1);
            if (partition.ImageCount > 0)
            {
                partition.FirstVokens[0].ShouldBe(v);
            }

            partitions.Add(partition);
        }

        partitions.Sum(p => p.ImageCount).ShouldBe(trie.ImageCount);
        ShouldBeSame(VokenTrie.Build(partitions.SelectMany(p => p.Entries()).ToList(), trie.Levels, trie.CodebookSize), trie);
    }

    [Property(MaxTest = 100)]
    public void Rebuilding_from_entries_gives_the_same_trie(int seed)
    {
        var trie = RandomTries.Trie(seed);
        ShouldBeSame(VokenTrie.Build(trie.Entries(), trie.Levels, trie.CodebookSize), trie);
    }

    [Fact]
    public void Bad_input_is_refused_with_the_value()
    {
        Should.Throw<ArgumentException>(() => VokenTrie.Build([(1, [0, 5])], 2, 3)).Message.ShouldContain("voken 5");
        Should.Throw<ArgumentException>(() => VokenTrie.Build([(1, [0])], 2, 3)).Message.ShouldContain("length 1");
        Should.Throw<ArgumentException>(() => VokenTrie.Build([(1, [0, 1]), (1, [1, 1])], 2, 3)).Message.ShouldContain("Image id 1");
    }

    [Fact]
    public void Empty_trie_has_no_sequences()
    {
        var trie = VokenTrie.Empty(3, 4);
        trie.SequenceCount.ShouldBe(0);
        trie.ImageCount.ShouldBe(0);
        trie.CollisionRate.ShouldBe(0);
        trie.ChildrenOf(VokenTrie.Root).Count.ShouldBe(0);
        using var stream = new MemoryStream();
        trie.WriteTo(stream);
        stream.Position = 0;
        ShouldBeSame(VokenTrie.ReadFrom(stream), trie);
    }

    private static void ShouldBeSame(VokenTrie actual, VokenTrie expected)
    {
        actual.Levels.ShouldBe(expected.Levels);
        actual.CodebookSize.ShouldBe(expected.CodebookSize);
        actual.NodeCount.ShouldBe(expected.NodeCount);
        actual.SequenceCount.ShouldBe(expected.SequenceCount);
        actual.ImageCount.ShouldBe(expected.ImageCount);
        actual.CollisionRate.ShouldBe(expected.CollisionRate);
        var a = actual.Entries();
        var e = expected.Entries();
        a.Count.ShouldBe(e.Count);
        for (var i = 0; i < a.Count; i++)
        {
            a[i].ImageId.ShouldBe(e[i].ImageId);
            a[i].Vokens.ShouldBe(e[i].Vokens);
        }

        for (var node = 0; node < expected.NodeCount; node++)
        {
            actual.ChildrenOf(node).Vokens.ToArray().ShouldBe(expected.ChildrenOf(node).Vokens.ToArray());
            actual.ChildrenOf(node).FirstNode.ShouldBe(expected.ChildrenOf(node).FirstNode);
        }
    }

    /// <summary>Rows already in sequence order build, without a sort, the trie <see cref="VokenTrie.Build(System.ReadOnlySpan{long}, System.ReadOnlySpan{int}, int, int)"/> gives with ids = rows.</summary>
    [Property(MaxTest = 200)]
    public void BuildSorted_equals_Build_of_the_rows(int seed)
    {
        var (entries, depth, vocabulary) = RandomTries.Entries(seed);
        var sorted = entries.Select(e => e.Vokens).Order(Comparer<int[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b))).ToArray();
        var rows = sorted.SelectMany(v => v).ToArray();
        var expected = VokenTrie.Build(sorted.Select((v, i) => ((long)i, v)).ToList(), depth, vocabulary);
        Bytes(VokenTrie.BuildSorted(rows, depth, vocabulary)).ShouldBe(Bytes(expected));
        if (sorted.Length > 1 && !sorted[0].SequenceEqual(sorted[^1]))
        {
            var swapped = sorted.Reverse().SelectMany(v => v).ToArray();
            Should.Throw<ArgumentException>(() => VokenTrie.BuildSorted(swapped, depth, vocabulary)).Message.ShouldContain("lexicographic order");
        }
    }

    private static byte[] Bytes(VokenTrie trie)
    {
        using var stream = new MemoryStream();
        trie.WriteTo(stream);
        return stream.ToArray();
    }
}
