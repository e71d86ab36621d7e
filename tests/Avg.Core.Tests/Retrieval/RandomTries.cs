using Avg.Retrieval;

namespace Avg.Core.Tests.Retrieval;

/// <summary>Small random tries with many shared prefixes and some collisions, reproducible from a seed.</summary>
internal static class RandomTries
{
    public static (List<(long ImageId, int[] Vokens)> Entries, int Depth, int Vocabulary) Entries(int seed, int maxCount = 30)
    {
        var rng = new Random(seed);
        var depth = rng.Next(1, 5);
        var vocabulary = rng.Next(1, 7);
        var count = rng.Next(0, maxCount + 1);
        var ids = new HashSet<long>();
        while (ids.Count < count)
        {
            ids.Add(rng.Next(-50, 1000));
        }

        var entries = new List<(long, int[])>();
        foreach (var id in ids)
        {
            var seq = new int[depth];
            for (var j = 0; j < depth; j++)
            {
                seq[j] = rng.Next(vocabulary);
            }

            entries.Add((id, seq));
        }

        return (entries, depth, vocabulary);
    }

    public static VokenTrie Trie(int seed, int maxCount = 30)
    {
        var (entries, depth, vocabulary) = Entries(seed, maxCount);
        return VokenTrie.Build(entries, depth, vocabulary);
    }
}

/// <summary>
/// Deterministic model stand-in: logits are a hash of (seed, query, prefix, voken). It also checks the scorer
/// protocol: it keeps each beam's prefix as a KV cache would (gathered by parent on reorder) and asserts that
/// every scored prefix extends the cached one by exactly one voken.
/// </summary>
internal sealed class HashScorer : IVokenStepScorer
{
    private readonly ulong _seed;
    private readonly float _spread;
    private readonly uint _levels;
    private int[][] _cache = [];
    private int[] _lastPrefixes = [];
    private int _lastLength;
    private int _queryCount;

    private readonly Action<int>? _onScore;

    /// <param name="levels">Distinct logit values; few levels force many score ties.</param>
    /// <param name="onScore">Told how many beams each step scores.</param>
    public HashScorer(int codebookSize, int seed, float spread = 4f, uint levels = 10_000, Action<int>? onScore = null)
    {
        _levels = levels;
        _onScore = onScore;
        CodebookSize = codebookSize;
        _seed = (ulong)seed;
        _spread = spread;
    }

    public int CodebookSize { get; }

    public int Calls { get; private set; }

    public void BeginQueries(int queryCount)
    {
        _queryCount = queryCount;
        _cache = new int[queryCount][];
        for (var q = 0; q < queryCount; q++)
        {
            _cache[q] = [];
        }
    }

    public void Score(ReadOnlySpan<int> queryOfBeam, ReadOnlySpan<int> prefixes, int prefixLength, Span<float> logits)
    {
        Calls++;
        _onScore?.Invoke(queryOfBeam.Length);
        queryOfBeam.Length.ShouldBe(_cache.Length);
        prefixes.Length.ShouldBe(queryOfBeam.Length * prefixLength);
        logits.Length.ShouldBe(queryOfBeam.Length * CodebookSize);
        for (var b = 0; b < queryOfBeam.Length; b++)
        {
            queryOfBeam[b].ShouldBeInRange(0, _queryCount - 1);
            if (b > 0)
            {
                queryOfBeam[b].ShouldBeGreaterThanOrEqualTo(queryOfBeam[b - 1]);
            }

            var prefix = prefixes.Slice(b * prefixLength, prefixLength);
            _cache[b].Length.ShouldBe(Math.Max(0, prefixLength - 1));
            prefix[.._cache[b].Length].SequenceEqual(_cache[b]).ShouldBeTrue("a scored prefix must extend its cached parent");
            for (var v = 0; v < CodebookSize; v++)
            {
                logits[(b * CodebookSize) + v] = Logit(queryOfBeam[b], prefix, v);
            }
        }

        _lastPrefixes = prefixes.ToArray();
        _lastLength = prefixLength;
    }

    public void ReorderBeams(ReadOnlySpan<int> parentBeam)
    {
        var next = new int[parentBeam.Length][];
        for (var b = 0; b < parentBeam.Length; b++)
        {
            next[b] = _lastPrefixes.AsSpan(parentBeam[b] * _lastLength, _lastLength).ToArray();
        }

        _cache = next;
    }

    public float Logit(int query, ReadOnlySpan<int> prefix, int voken)
    {
        var h = Mix(_seed ^ 0x9E3779B97F4A7C15UL);
        h = Mix(h ^ (ulong)query);
        foreach (var p in prefix)
        {
            h = Mix(h ^ (ulong)(p + 1));
        }

        h = Mix(h ^ ((ulong)prefix.Length << 32));
        h = Mix(h ^ (ulong)voken);
        return (h % _levels) / (float)_levels * _spread;
    }

    private static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}

/// <summary>The same logits for every beam and step.</summary>
internal sealed class FixedScorer(float[] logits) : IVokenStepScorer
{
    public int CodebookSize => logits.Length;

    public void BeginQueries(int queryCount)
    {
    }

    public void Score(ReadOnlySpan<int> queryOfBeam, ReadOnlySpan<int> prefixes, int prefixLength, Span<float> output)
    {
        for (var b = 0; b < queryOfBeam.Length; b++)
        {
            logits.CopyTo(output.Slice(b * logits.Length, logits.Length));
        }
    }

    public void ReorderBeams(ReadOnlySpan<int> parentBeam)
    {
    }
}
