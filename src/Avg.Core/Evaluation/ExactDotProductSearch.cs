using System.Numerics.Tensors;
using Avg.Retrieval;

namespace Avg.Evaluation;

/// <summary>One image of a ranked list with its similarity score.</summary>
public readonly record struct ScoredImage(long ImageId, float Score);

/// <summary>
/// The two-tower baseline (design §4): exact top-k by cosine similarity over all image vectors. Cost grows
/// linearly with the image set, which is what AVG's generation is compared against.
/// </summary>
public sealed class ExactDotProductSearch
{
    private readonly float[] _images;
    private readonly long[] _ids;

    /// <param name="images">count × d image vectors, row-major; copied and L2-normalised (zero rows stay zero).</param>
    /// <param name="imageIds">Id of each row; row indices when null.</param>
    public ExactDotProductSearch(ReadOnlySpan<float> images, int dimension, IReadOnlyList<long>? imageIds = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        if (images.Length % dimension != 0)
        {
            throw new ArgumentException($"{images.Length} floats is not a whole number of {dimension}-dimensional vectors.", nameof(images));
        }

        Dimension = dimension;
        Count = images.Length / dimension;
        _images = images.ToArray();
        for (var i = 0; i < Count; i++)
        {
            Normalize(_images.AsSpan(i * dimension, dimension));
        }

        if (imageIds is not null && imageIds.Count != Count)
        {
            throw new ArgumentException($"{imageIds.Count} image ids for {Count} image vectors.", nameof(imageIds));
        }

        _ids = new long[Count];
        for (var i = 0; i < Count; i++)
        {
            _ids[i] = imageIds?[i] ?? i;
        }
    }

    public int Dimension { get; }

    public int Count { get; }

    /// <summary>Top-k images for one query (normalised here too, so scores are cosines); ties go to the lower row.</summary>
    public ScoredImage[] Search(ReadOnlySpan<float> query, int k)
    {
        if (query.Length != Dimension)
        {
            throw new ArgumentException($"Expected a query of dimension {Dimension}, got {query.Length}.", nameof(query));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        var q = query.ToArray();
        Normalize(q);
        var best = new BoundedTopK<SmallerKeyFirst>(Math.Max(1, Math.Min(k, Count)));
        for (var i = 0; i < Count; i++)
        {
            best.Offer(TensorPrimitives.Dot(q, _images.AsSpan(i * Dimension, Dimension)), i, 0);
        }

        var result = new ScoredImage[best.Count];
        for (var n = result.Length; n > 0; n--)
        {
            var (score, row, _) = best.PopWorst();
            result[n - 1] = new ScoredImage(_ids[row], score);
        }

        return result;
    }

    /// <summary>Top-k for each of count × d queries (row-major).</summary>
    public ScoredImage[][] SearchBatch(ReadOnlySpan<float> queries, int k)
    {
        if (queries.Length % Dimension != 0)
        {
            throw new ArgumentException($"{queries.Length} floats is not a whole number of {Dimension}-dimensional queries.", nameof(queries));
        }

        var results = new ScoredImage[queries.Length / Dimension][];
        for (var q = 0; q < results.Length; q++)
        {
            results[q] = Search(queries.Slice(q * Dimension, Dimension), k);
        }

        return results;
    }

    /// <summary>L2-normalises <paramref name="v"/> in place; a zero vector is left as it is.</summary>
    public static void Normalize(Span<float> v)
    {
        var norm = TensorPrimitives.Norm(v);
        if (norm > 0)
        {
            TensorPrimitives.Divide(v, norm, v);
        }
    }
}
