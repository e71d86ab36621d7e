using System.Numerics.Tensors;
using Avg.Quantization;

namespace Avg.Retrieval;

/// <summary>The fine codes (<see cref="FineQuantizer.Levels"/> bytes) of an image a search found, by the id its hit carries.</summary>
public interface IFineCodeLookup
{
    /// <summary>The image's fine codes; empty when the index holds none for it.</summary>
    ReadOnlySpan<byte> FineCodesOf(long imageId);
}

/// <summary>Fine codes by dense image id: row i of <see cref="Codes"/> belongs to image i (in-process indexes over rows 0 … n−1).</summary>
public sealed class RowFineCodes(byte[] codes, int levels) : IFineCodeLookup
{
    public byte[] Codes { get; } = codes ?? throw new ArgumentNullException(nameof(codes));

    public ReadOnlySpan<byte> FineCodesOf(long imageId) =>
        imageId >= 0 && (imageId + 1) * levels <= Codes.Length ? Codes.AsSpan((int)imageId * levels, levels) : [];
}

/// <summary>Fine codes by image id for an index whose ids are not rows (e.g. to search in process what a cluster indexed).</summary>
public sealed class FineCodeTable(IEnumerable<(long ImageId, byte[] Codes)> images) : IFineCodeLookup
{
    private readonly Dictionary<long, byte[]> _codes = images.ToDictionary(i => i.ImageId, i => i.Codes);

    public ReadOnlySpan<byte> FineCodesOf(long imageId) => _codes.TryGetValue(imageId, out var codes) ? codes : [];
}

/// <summary>
/// The second score of a search (docs/design.md, "Ranking within collisions"): images that share a voken sequence get
/// the same generator score, so the images of the leaves beam search reached are ranked again by the generator score
/// plus w · q·v̂, where q is the query's text vector and v̂ = Σ_j C[voken_j] + Σ_l F_l[code_l] the image vector the
/// identifier and its fine codes reconstruct. q·v̂ is a sum of table look-ups (asymmetric distance, as
/// product-quantisation re-ranking computes it): per query one table of N + L·K dot products, then M + L additions
/// per candidate image — nothing grows with the index.
/// </summary>
/// <remarks>Holds per-query tables between <see cref="Prepare"/> and <see cref="Rank"/>: one instance per thread.</remarks>
public sealed class CollisionRanker
{
    private readonly float[] _vokenCodebook;
    private readonly FineQuantizer _fine;
    private readonly int _codebookSize;
    private float[] _tables = [];
    private int _queries;

    /// <param name="vokenCodebook">C, N × d: the codebook the identifiers' vokens index.</param>
    public CollisionRanker(ReadOnlySpan<float> vokenCodebook, FineQuantizer fine)
    {
        ArgumentNullException.ThrowIfNull(fine);
        if (vokenCodebook.Length == 0 || vokenCodebook.Length % fine.Dimension != 0)
        {
            throw new ArgumentException($"A voken codebook of dimension {fine.Dimension} needs a positive multiple of {fine.Dimension} floats, got {vokenCodebook.Length}.", nameof(vokenCodebook));
        }

        _vokenCodebook = vokenCodebook.ToArray();
        _fine = fine;
        _codebookSize = vokenCodebook.Length / fine.Dimension;
    }

    public FineQuantizer Fine => _fine;

    private int TableWidth => _codebookSize + (_fine.Levels * _fine.Codes);

    /// <summary>Builds each query's table from its vector (rows of d, flat).</summary>
    public void Prepare(ReadOnlySpan<float> queryVectors)
    {
        var d = _fine.Dimension;
        if (queryVectors.Length % d != 0)
        {
            throw new ArgumentException($"{queryVectors.Length} floats are not whole query vectors of {d}.", nameof(queryVectors));
        }

        _queries = queryVectors.Length / d;
        var width = TableWidth;
        if (_tables.Length < _queries * width)
        {
            _tables = new float[_queries * width];
        }

        var codes = _fine.Codebooks;
        for (var q = 0; q < _queries; q++)
        {
            var query = queryVectors.Slice(q * d, d);
            var table = _tables.AsSpan(q * width, width);
            for (var v = 0; v < _codebookSize; v++)
            {
                table[v] = TensorPrimitives.Dot(query, _vokenCodebook.AsSpan(v * d, d));
            }

            for (var c = 0; c < _fine.Levels * _fine.Codes; c++)
            {
                table[_codebookSize + c] = TensorPrimitives.Dot(query, codes.Slice(c * d, d));
            }
        }
    }

    /// <summary>q·v̂ of an image: its vokens' and fine codes' table entries summed (no fine codes: the vokens' part alone).</summary>
    public float Similarity(int query, ReadOnlySpan<int> vokens, ReadOnlySpan<byte> fineCodes)
    {
        if ((uint)query >= (uint)_queries)
        {
            throw new ArgumentOutOfRangeException(nameof(query), query, $"Only {_queries} queries were prepared.");
        }

        var table = _tables.AsSpan(query * TableWidth, TableWidth);
        var sum = 0f;
        foreach (var v in vokens)
        {
            sum += table[v];
        }

        for (var level = 0; level < fineCodes.Length && level < _fine.Levels; level++)
        {
            sum += table[_codebookSize + (level * _fine.Codes) + fineCodes[level]];
        }

        return sum;
    }

    /// <summary>
    /// The best <paramref name="k"/> of <paramref name="candidates"/> (one query's hits, best first) by score + w · q·v̂;
    /// equal combined scores keep the search's order. Each returned hit carries the combined score.
    /// </summary>
    public SearchHit[] Rank(int query, IReadOnlyList<SearchHit> candidates, IFineCodeLookup codes, double weight, int k)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(codes);
        var scored = new (float Score, int Order)[candidates.Count];
        for (var i = 0; i < scored.Length; i++)
        {
            var hit = candidates[i];
            scored[i] = ((float)(hit.Score + (weight * Similarity(query, hit.Vokens, codes.FineCodesOf(hit.ImageId)))), i);
        }

        Array.Sort(scored, static (a, b) => a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Order.CompareTo(b.Order));
        var result = new SearchHit[Math.Min(k, scored.Length)];
        for (var i = 0; i < result.Length; i++)
        {
            var hit = candidates[scored[i].Order];
            result[i] = hit with { Score = scored[i].Score };
        }

        return result;
    }
}
