using System.Diagnostics;
using System.Globalization;
using Avg.Cluster.Grains;
using Avg.Retrieval;

namespace Avg.Cluster.Model;

/// <summary>
/// A partition as a query silo keeps it: its images as rows, the trie over their voken sequences (the trie's image id
/// of an image is its row), and the images of each leaf in ranking order (ids in shortlex order,
/// <see cref="PartitionRun.CompareIds"/>), so search over it equals the in-process search.
/// </summary>
/// <remarks>
/// A refresh by delta costs the change, not the partition (docs/cluster.md, "Query caches by delta"): the rows are an
/// append-only store shared by the successive copies of one partition (a copy reads only the rows it knows; newer
/// copies append past them), a changed or removed image's old row is left unreachable, each leaf keeps its rows in an
/// array of its own that later copies share until they change that leaf, and the trie's nodes are shared too unless a
/// sequence appeared or vanished. What a delta copies is one reference per leaf. Once the unreachable rows outnumber
/// the live ones the rows are written anew: amortised O(1) per changed image. Only the newest copy of a partition may
/// be extended in place; a change applied to an older copy is applied to a rebuilt one.
/// </remarks>
public sealed class CachedPartition
{
    /// <summary>
    /// Unreachable rows tolerated before the rows are written anew: the live count, and at least this many. Writing
    /// anew costs the live rows, so tolerating as many dead ones keeps it amortised O(1) per change; the floor only
    /// spares tiny partitions a rewrite every few changes. It bounds the cache's overhead under churn to the live rows
    /// plus this many per partition (a floor of 1,024 let a 20K-image soak's 64 partitions collect 65K dead rows, about
    /// 16 MB, over its first 25 minutes: docs/soak.md).
    /// </summary>
    public const int MinimumDeadRows = 64;

    private readonly PartitionRows _rows;
    private readonly int _codebookSize;

    /// <summary>Distinct voken sequences (L × Levels), ascending: leaf l of <see cref="Trie"/> is row l.</summary>
    private readonly int[] _leafSequences;

    /// <summary>The images (rows) of each leaf, in ranking order.</summary>
    private readonly long[][] _leaves;

    /// <summary>Rows written but no longer reachable (their image was changed or removed).</summary>
    private readonly int _deadRows;

    private CachedPartition(int firstVoken, long revision, PartitionRows rows, int codebookSize, int[] leafSequences, long[][] leaves, VokenTrie trie, int deadRows)
    {
        FirstVoken = firstVoken;
        Revision = revision;
        _rows = rows;
        _codebookSize = codebookSize;
        _leafSequences = leafSequences;
        _leaves = leaves;
        Trie = trie;
        _deadRows = deadRows;
    }

    public int FirstVoken { get; }

    public long Revision { get; }

    /// <summary>The trie over the images; its image ids are rows (<see cref="IdOf"/>, <see cref="UriOf"/>, <see cref="FineOf"/>).</summary>
    public VokenTrie Trie { get; }

    /// <summary>Images held.</summary>
    public int Count => Trie.ImageCount;

    /// <summary>Rows this copy's rows hold that no longer belong to an image (changed or removed since written).</summary>
    public int DeadRows => _deadRows;

    /// <summary>M: vokens per image.</summary>
    public int Levels => _rows.Levels;

    /// <summary>L: fine codes per image (0: none).</summary>
    public int FineLevels => _rows.FineLevels;

    /// <summary><see cref="Stopwatch.GetTimestamp"/> when this copy was made or last found current.</summary>
    public long FetchedAt { get; internal set; } = Stopwatch.GetTimestamp();

    /// <summary>The codebook size its trie was built for (a pushed change is applied with it).</summary>
    internal int CodebookSize => _codebookSize;

    /// <summary>The id of the image the trie calls <paramref name="row"/>.</summary>
    public string IdOf(long row) => _rows.Ids[row];

    public string? UriOf(long row) => _rows.Uris[row];

    /// <summary>The fine codes of the image the trie calls <paramref name="row"/> (empty without them).</summary>
    public ReadOnlySpan<byte> FineOf(long row) => _rows.Fine.AsSpan((int)row * _rows.FineLevels, _rows.FineLevels);

    /// <summary>The images as one sorted run (by sequence, then id): what a whole fetch of this revision gives.</summary>
    public PartitionRun ToRun()
    {
        var ids = new string[Count];
        var uris = new string?[Count];
        var vokens = new int[Count * Levels];
        var fine = new byte[Count * FineLevels];
        var i = 0;
        foreach (var row in _leaves.SelectMany(leaf => leaf).Select(row => (int)row))
        {
            ids[i] = _rows.Ids[row];
            uris[i] = _rows.Uris[row];
            _rows.Vokens.AsSpan(row * Levels, Levels).CopyTo(vokens.AsSpan(i * Levels, Levels));
            _rows.Fine.AsSpan(row * FineLevels, FineLevels).CopyTo(fine.AsSpan(i * FineLevels, FineLevels));
            i++;
        }

        // Already in order, so Build's sort finds nothing to move.
        return PartitionRun.Build(Levels, ids, vokens, uris, FineLevels, fine);
    }

    /// <summary>The partition as <paramref name="changes"/> make it from <paramref name="known"/> (null: nothing held, so the changes must be whole).</summary>
    public static CachedPartition From(CachedPartition? known, PartitionChanges changes, int codebookSize)
    {
        ArgumentNullException.ThrowIfNull(changes);
        if (!changes.IsWhole && (known is null || known.Revision != changes.BaseRevision))
        {
            throw new AvgException($"Partition {changes.FirstVoken} sent changes since revision {changes.BaseRevision}, but this silo holds {known?.Revision.ToString(CultureInfo.InvariantCulture) ?? "nothing"}.");
        }

        if (known is not null && changes.Revision == known.Revision)
        {
            known.FetchedAt = Stopwatch.GetTimestamp();
            return known;
        }

        if (changes.IsWhole)
        {
            var depth = changes.Levels == 0 ? known?.Levels ?? 1 : changes.Levels;
            return FromRun(changes.FirstVoken, changes.Revision, PartitionRun.Empty(depth).Apply(changes), codebookSize);
        }

        return known!.Apply(changes, codebookSize);
    }

    /// <summary>A copy whose rows are <paramref name="run"/>'s, in its order.</summary>
    private static CachedPartition FromRun(int firstVoken, long revision, PartitionRun run, int codebookSize)
    {
        var rows = new PartitionRows(run.Levels, run.FineLevels, run.Count);
        var leafSequences = new List<int>();
        var leaves = new List<long[]>();
        for (int start = 0, end; start < run.Count; start = end)
        {
            end = start + 1;
            while (end < run.Count && run.RowVokens(end).SequenceEqual(run.RowVokens(start)))
            {
                end++;
            }

            var leaf = new long[end - start];
            for (var i = start; i < end; i++)
            {
                rows.Append(run.Ids[i], run.RowVokens(i), run.Uris[i], run.RowFine(i));
                leaf[i - start] = i;
            }

            leafSequences.AddRange(run.RowVokens(start));
            leaves.Add(leaf);
        }

        var partition = Create(firstVoken, revision, rows, codebookSize, [.. leafSequences], [.. leaves], null, deadRows: 0);
        rows.Head = partition;
        return partition;
    }

    private static CachedPartition Create(int firstVoken, long revision, PartitionRows rows, int codebookSize, int[] leafSequences, long[][] leaves, VokenTrie? sameNodes, int deadRows)
    {
        var trie = leaves.Length == 0
            ? VokenTrie.Empty(rows.Levels, codebookSize)
            : sameNodes?.WithLeafImages(leaves) ?? VokenTrie.FromLeaves(leafSequences, rows.Levels, codebookSize, leaves);
        return new CachedPartition(firstVoken, revision, rows, codebookSize, leafSequences, leaves, trie, deadRows);
    }

    /// <summary>This copy brought to <paramref name="changes"/>' revision (a delta on this one's).</summary>
    private CachedPartition Apply(PartitionChanges changes, int codebookSize)
    {
        var depth = changes.Levels == 0 ? Levels : changes.Levels;
        var added = PartitionRun.Build(depth, changes.Ids, changes.Vokens, changes.Uris, changes.Ids.Length == 0 ? FineLevels : changes.FineLevels, changes.Fine);
        if (added.Count == 0 && changes.Removed.Length == 0)
        {
            return Relabel(changes.Revision);
        }

        if (depth != Levels && Count > 0)
        {
            throw new AvgException($"Partition changes have {depth} vokens per image; the cached partition has {Levels}.");
        }

        var levels = Count > 0 ? FineLevels : added.FineLevels;
        if (added.Count > 0 && added.FineLevels != levels)
        {
            throw new AvgException($"Partition changes have {added.FineLevels} fine codes per image; the cached partition has {levels}.");
        }

        lock (_rows)
        {
            if (!ReferenceEquals(_rows.Head, this) || depth != Levels || levels != FineLevels || codebookSize != _codebookSize)
            {
                // Another copy was made from this one (or the shape changed): start again from this copy's images.
                return FromRun(FirstVoken, changes.Revision, ToRun().Apply(changes), codebookSize);
            }

            var next = ApplyInPlace(changes, added, codebookSize);
            _rows.Head = next;
            return next;
        }
    }

    private CachedPartition Relabel(long revision)
    {
        lock (_rows)
        {
            var next = new CachedPartition(FirstVoken, revision, _rows, _codebookSize, _leafSequences, _leaves, Trie, _deadRows);
            if (ReferenceEquals(_rows.Head, this))
            {
                _rows.Head = next;
            }

            return next;
        }
    }

    /// <summary>Appends <paramref name="added"/> (sorted) to the shared rows and builds the leaves anew around the changed ones.</summary>
    private CachedPartition ApplyInPlace(PartitionChanges changes, PartitionRun added, int codebookSize)
    {
        var depth = Levels;

        // Rows leaving: the old rows of changed and removed images, by leaf.
        var leaving = new List<(int Leaf, long Row)>();
        foreach (var id in changes.Ids.Concat(changes.Removed))
        {
            if (_rows.RowOf.Remove(id, out var row))
            {
                leaving.Add((FindLeaf(_rows.Vokens.AsSpan(row * depth, depth)), row));
            }
        }

        leaving.Sort();

        // Rows arriving, appended in (sequence, id) order.
        var firstNew = _rows.Count;
        for (var i = 0; i < added.Count; i++)
        {
            _rows.Append(added.Ids[i], added.RowVokens(i), added.Uris[i], added.RowFine(i));
        }

        // The new image list of each leaf that changes, and the leaves that appear (by their first arriving row).
        var changed = new Dictionary<int, long[]>();
        var appearing = new List<(int Before, int From, int To)>();
        var sameNodes = true;
        int gone = 0, next = 0;
        while (gone < leaving.Count || next < added.Count)
        {
            var leavingLeaf = gone < leaving.Count ? leaving[gone].Leaf : int.MaxValue;
            var arrivingTo = next;
            var arrivingLeaf = int.MaxValue;
            var exists = false;
            if (next < added.Count)
            {
                while (arrivingTo < added.Count && added.RowVokens(arrivingTo).SequenceEqual(added.RowVokens(next)))
                {
                    arrivingTo++;
                }

                arrivingLeaf = LowerBound(added.RowVokens(next));
                exists = arrivingLeaf < _leaves.Length && LeafSequence(arrivingLeaf).SequenceEqual(added.RowVokens(next));
            }

            if (next < added.Count && !exists && arrivingLeaf <= leavingLeaf)
            {
                appearing.Add((arrivingLeaf, firstNew + next, firstNew + arrivingTo));
                sameNodes = false;
                next = arrivingTo;
                continue;
            }

            var leaf = Math.Min(leavingLeaf, exists ? arrivingLeaf : int.MaxValue);
            var merged = new List<long>(_leaves[leaf].Length + (arrivingTo - next));
            var leavingEnd = gone;
            while (leavingEnd < leaving.Count && leaving[leavingEnd].Leaf == leaf)
            {
                leavingEnd++;
            }

            foreach (var row in _leaves[leaf])
            {
                var left = false;
                for (var g = gone; g < leavingEnd && !left; g++)
                {
                    left = leaving[g].Row == row;
                }

                if (!left)
                {
                    merged.Add(row);
                }
            }

            gone = leavingEnd;
            var kept = merged.Count;
            if (exists && arrivingLeaf == leaf)
            {
                for (var row = next; row < arrivingTo; row++)
                {
                    merged.Add(firstNew + row);
                }

                next = arrivingTo;
            }

            if (merged.Count > kept && kept > 0)
            {
                merged.Sort((a, b) => PartitionRun.CompareIds(_rows.Ids[a], _rows.Ids[b]));
            }

            sameNodes &= merged.Count > 0;
            changed[leaf] = [.. merged];
        }

        long[][] leaves;
        int[] leafSequences;
        if (sameNodes)
        {
            // The same sequences: one reference per leaf copied, the changed leaves replaced.
            leaves = (long[][])_leaves.Clone();
            foreach (var (leaf, images) in changed)
            {
                leaves[leaf] = images;
            }

            leafSequences = _leafSequences;
        }
        else
        {
            // Exact sizes: this runs whenever a change brings a new sequence, for every partition a batch touches.
            var emptied = changed.Values.Count(images => images.Length == 0);
            var newLeaves = new long[_leaves.Length + appearing.Count - emptied][];
            var newSequences = new int[newLeaves.Length * depth];
            var at = 0;
            var a = 0;
            for (var leaf = 0; leaf <= _leaves.Length; leaf++)
            {
                for (; a < appearing.Count && appearing[a].Before == leaf; a++)
                {
                    var (_, from, to) = appearing[a];
                    var images = new long[to - from];
                    for (var row = from; row < to; row++)
                    {
                        images[row - from] = row;
                    }

                    _rows.Vokens.AsSpan(from * depth, depth).CopyTo(newSequences.AsSpan(at * depth));
                    newLeaves[at++] = images;
                }

                if (leaf == _leaves.Length)
                {
                    break;
                }

                var kept = changed.TryGetValue(leaf, out var replaced) ? replaced : _leaves[leaf];
                if (kept.Length > 0)
                {
                    LeafSequence(leaf).CopyTo(newSequences.AsSpan(at * depth));
                    newLeaves[at++] = kept;
                }
            }

            leaves = newLeaves;
            leafSequences = newSequences;
        }

        var deadRows = _deadRows + leaving.Count;
        var partition = Create(FirstVoken, changes.Revision, _rows, codebookSize, leafSequences, leaves, sameNodes ? Trie : null, deadRows);
        if (deadRows > Math.Max(MinimumDeadRows, partition.Count))
        {
            // Mostly unreachable rows: write the live ones anew (this copy's rows are left to the copies reading them).
            return FromRun(FirstVoken, changes.Revision, partition.ToRun(), codebookSize);
        }

        return partition;
    }

    private ReadOnlySpan<int> LeafSequence(int leaf) => _leafSequences.AsSpan(leaf * Levels, Levels);

    /// <summary>The first leaf whose sequence is not below <paramref name="sequence"/>.</summary>
    private int LowerBound(ReadOnlySpan<int> sequence)
    {
        int low = 0, high = _leaves.Length;
        while (low < high)
        {
            var middle = low + ((high - low) / 2);
            if (LeafSequence(middle).SequenceCompareTo(sequence) < 0)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return low;
    }

    private int FindLeaf(ReadOnlySpan<int> sequence)
    {
        var leaf = LowerBound(sequence);
        if (leaf < _leaves.Length && LeafSequence(leaf).SequenceEqual(sequence))
        {
            return leaf;
        }

        throw new InvalidOperationException($"Partition {FirstVoken}: a held image's sequence [{string.Join(',', sequence.ToArray())}] has no leaf.");
    }

    /// <summary>
    /// The rows of one partition's copies on this silo: append-only (a copy reads the rows below its own count, never
    /// changed), the id → row map and the right to append belonging to the newest copy (<see cref="Head"/>).
    /// </summary>
    private sealed class PartitionRows(int depth, int fineLevels, int capacity)
    {
        public int Levels { get; } = depth;

        public int FineLevels { get; } = fineLevels;

        public int Count { get; private set; }

        public string[] Ids { get; private set; } = new string[Math.Max(16, capacity)];

        public string?[] Uris { get; private set; } = new string?[Math.Max(16, capacity)];

        public int[] Vokens { get; private set; } = new int[Math.Max(16, capacity) * depth];

        public byte[] Fine { get; private set; } = new byte[Math.Max(16, capacity) * fineLevels];

        public Dictionary<string, int> RowOf { get; } = new(capacity, StringComparer.Ordinal);

        /// <summary>The copy allowed to append (the newest).</summary>
        public CachedPartition? Head { get; set; }

        public void Append(string id, ReadOnlySpan<int> vokens, string? uri, ReadOnlySpan<byte> fine)
        {
            if (Count == Ids.Length)
            {
                // Grown into new arrays: copies reading the old ones find the same rows there.
                var size = Ids.Length * 2;
                Ids = Grow(Ids, size);
                Uris = Grow(Uris, size);
                Vokens = Grow(Vokens, size * Levels);
                Fine = Grow(Fine, size * FineLevels);
            }

            Ids[Count] = id;
            Uris[Count] = uri;
            vokens.CopyTo(Vokens.AsSpan(Count * Levels, Levels));
            fine.CopyTo(Fine.AsSpan(Count * FineLevels, FineLevels));
            RowOf[id] = Count;
            Count++;
        }

        private static T[] Grow<T>(T[] array, int size)
        {
            var grown = new T[size];
            Array.Copy(array, grown, array.Length);
            return grown;
        }
    }
}
