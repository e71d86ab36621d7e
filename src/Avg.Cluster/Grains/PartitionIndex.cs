using Avg.Retrieval;

namespace Avg.Cluster.Grains;

/// <summary>
/// The in-memory form of one partition: a <see cref="VokenTrie"/> whose image ids are local ordinals 0..n−1 in
/// "shortlex" order of the string ids (shorter first, then ordinal), so images sharing a leaf come out in a
/// deterministic order — for decimal ids the same as ascending numbers, as the in-process trie orders them.
/// </summary>
internal sealed class PartitionIndex
{
    private readonly Dictionary<string, int> _localOf;

    private PartitionIndex(VokenTrie trie, string[] ids, string?[] uris)
    {
        Trie = trie;
        Ids = ids;
        Uris = uris;
        _localOf = new Dictionary<string, int>(ids.Length, StringComparer.Ordinal);
        for (var i = 0; i < ids.Length; i++)
        {
            _localOf[ids[i]] = i;
        }
    }

    public VokenTrie Trie { get; }

    public string[] Ids { get; }

    public string?[] Uris { get; }

    /// <summary>Ranking order of ids within a leaf.</summary>
    public static int CompareIds(string? a, string? b) =>
        a is null || b is null ? string.CompareOrdinal(a, b) : a.Length != b.Length ? a.Length.CompareTo(b.Length) : string.CompareOrdinal(a, b);

    public static PartitionIndex Build(IReadOnlyDictionary<string, (int[] Vokens, string? Uri)> entries, int depth, int vocabularySize)
    {
        var ids = entries.Keys.ToArray();
        Array.Sort(ids, CompareIds);
        var locals = new long[ids.Length];
        var vokens = new int[ids.Length * depth];
        var uris = new string?[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            var (seq, uri) = entries[ids[i]];
            locals[i] = i;
            seq.CopyTo(vokens, i * depth);
            uris[i] = uri;
        }

        return new PartitionIndex(VokenTrie.Build(locals, vokens, depth, vocabularySize), ids, uris);
    }

    public int LocalOf(string id) => _localOf.TryGetValue(id, out var local) ? local : -1;

    /// <summary>The trie as bytes for the wire (<see cref="VokenTrie.WriteTo"/>).</summary>
    public byte[] TrieBytes()
    {
        using var stream = new MemoryStream();
        Trie.WriteTo(stream);
        return stream.ToArray();
    }
}
