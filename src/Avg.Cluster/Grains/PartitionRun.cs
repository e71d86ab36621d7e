using Avg.Retrieval;

namespace Avg.Cluster.Grains;

/// <summary>
/// A partition's images as one immutable sorted run: rows ordered by voken sequence, then by id in "shortlex" order
/// (shorter first, then ordinal), so row i is local image i of the trie (<see cref="VokenTrie.BuildSorted"/>) and
/// images sharing a leaf come out in a deterministic order — for decimal ids the same as ascending numbers, as the
/// in-process trie orders them. Changes are merged in (<see cref="Apply"/>): linear copying, no sort of the run.
/// </summary>
public sealed class PartitionRun
{
    private PartitionRun(int depth, string[] ids, int[] vokens, string?[] uris, int fineLevels, byte[] fine)
    {
        FineLevels = fineLevels;
        Fine = fine;
        Levels = depth;
        Ids = ids;
        Vokens = vokens;
        Uris = uris;
    }

    /// <summary>M: vokens per row.</summary>
    public int Levels { get; }

    public int Count => Ids.Length;

    public string[] Ids { get; }

    /// <summary>Row i (Levels vokens) belongs to Ids[i].</summary>
    public int[] Vokens { get; }

    public string?[] Uris { get; }

    /// <summary>L: fine codes per row (0: none).</summary>
    public int FineLevels { get; }

    /// <summary>Row i (FineLevels bytes) belongs to Ids[i].</summary>
    public byte[] Fine { get; }

    public static PartitionRun Empty(int depth) => new(depth, [], [], [], 0, []);

    /// <summary>Ranking order of ids within a leaf.</summary>
    public static int CompareIds(string? a, string? b) =>
        a is null || b is null ? string.CompareOrdinal(a, b) : a.Length != b.Length ? a.Length.CompareTo(b.Length) : string.CompareOrdinal(a, b);

    /// <summary>The run of these rows (ids distinct; <paramref name="vokens"/> is count × depth).</summary>
    public static PartitionRun Build(int depth, IReadOnlyList<string> ids, ReadOnlySpan<int> vokens, IReadOnlyList<string?> uris, int fineLevels = 0, ReadOnlySpan<byte> fine = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fineLevels);
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(uris);
        if (vokens.Length != ids.Count * depth || uris.Count != ids.Count || fine.Length != ids.Count * fineLevels)
        {
            throw new ArgumentException($"{ids.Count} ids need {ids.Count * depth} vokens, {ids.Count} URIs and {ids.Count * fineLevels} fine codes; got {vokens.Length}, {uris.Count} and {fine.Length}.");
        }

        var rows = vokens.ToArray();
        var order = new int[ids.Count];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        Array.Sort(order, (a, b) =>
        {
            var c = rows.AsSpan(a * depth, depth).SequenceCompareTo(rows.AsSpan(b * depth, depth));
            return c != 0 ? c : CompareIds(ids[a], ids[b]);
        });

        var sortedIds = new string[order.Length];
        var sortedVokens = new int[rows.Length];
        var sortedUris = new string?[order.Length];
        var sortedFine = new byte[fine.Length];
        for (var i = 0; i < order.Length; i++)
        {
            sortedIds[i] = ids[order[i]];
            sortedUris[i] = uris[order[i]];
            rows.AsSpan(order[i] * depth, depth).CopyTo(sortedVokens.AsSpan(i * depth, depth));
            fine.Slice(order[i] * fineLevels, fineLevels).CopyTo(sortedFine.AsSpan(i * fineLevels, fineLevels));
            if (i > 0 && sortedIds[i] == sortedIds[i - 1])
            {
                throw new ArgumentException($"Image '{sortedIds[i]}' appears twice in one partition run.", nameof(ids));
            }
        }

        return new PartitionRun(depth, sortedIds, sortedVokens, sortedUris, fineLevels, sortedFine);
    }

    /// <summary>
    /// This run brought to <paramref name="changes"/>' revision: rows of changed or removed ids dropped, the changed
    /// rows merged in at their places. Linear in the run (copies and one set look-up per row) plus a sort of the changes.
    /// A whole-partition <paramref name="changes"/> replaces the run.
    /// </summary>
    public PartitionRun Apply(PartitionChanges changes)
    {
        ArgumentNullException.ThrowIfNull(changes);
        var depth = changes.Levels == 0 ? Levels : changes.Levels;
        var added = Build(depth, changes.Ids, changes.Vokens, changes.Uris, changes.Ids.Length == 0 ? FineLevels : changes.FineLevels, changes.Fine);
        if (changes.IsWhole)
        {
            return added;
        }

        if (added.Count == 0 && changes.Removed.Length == 0)
        {
            return this;
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

        var dropped = new HashSet<string>(changes.Ids, StringComparer.Ordinal);
        dropped.UnionWith(changes.Removed);
        var capacity = Count + added.Count;
        var ids = new string[capacity];
        var vokens = new int[capacity * depth];
        var uris = new string?[capacity];
        var fine = new byte[capacity * levels];
        int at = 0, mine = 0, theirs = 0;
        while (mine < Count || theirs < added.Count)
        {
            if (mine < Count && dropped.Contains(Ids[mine]))
            {
                mine++;
                continue;
            }

            var takeMine = theirs == added.Count || (mine < Count && CompareRows(this, mine, added, theirs) < 0);
            var (run, row) = takeMine ? (this, mine++) : (added, theirs++);
            ids[at] = run.Ids[row];
            uris[at] = run.Uris[row];
            run.Vokens.AsSpan(row * depth, depth).CopyTo(vokens.AsSpan(at * depth, depth));
            run.Fine.AsSpan(row * levels, levels).CopyTo(fine.AsSpan(at * levels, levels));
            at++;
        }

        Array.Resize(ref ids, at);
        Array.Resize(ref uris, at);
        Array.Resize(ref vokens, at * depth);
        Array.Resize(ref fine, at * levels);
        return new PartitionRun(depth, ids, vokens, uris, levels, fine);
    }

    /// <summary>The trie over the rows (local image id = row).</summary>
    public VokenTrie ToTrie(int codebookSize) => VokenTrie.BuildSorted(Vokens, Levels, codebookSize);

    /// <summary>The vokens of row <paramref name="row"/>.</summary>
    public ReadOnlySpan<int> RowVokens(int row) => Vokens.AsSpan(row * Levels, Levels);

    /// <summary>The fine codes of row <paramref name="row"/> (empty without them).</summary>
    public ReadOnlySpan<byte> RowFine(int row) => Fine.AsSpan(row * FineLevels, FineLevels);

    private static int CompareRows(PartitionRun a, int i, PartitionRun b, int j)
    {
        var c = a.RowVokens(i).SequenceCompareTo(b.RowVokens(j));
        return c != 0 ? c : CompareIds(a.Ids[i], b.Ids[j]);
    }
}
