using System.Numerics.Tensors;

namespace Avg.Quantization;

/// <summary>
/// A few more residual-quantisation levels per image, after its M vokens, that are not part of its identifier: they
/// quantise what the identifier leaves of the image vector, e = v − Σ_j C[voken_j], with one small codebook per level
/// (L levels of K ≤ 256 codes, one byte each). The collision ranking (<see cref="Avg.Retrieval.CollisionRanker"/>)
/// scores the images of the leaves beam search reached by the query's similarity to v ≈ Σ_j C[voken_j] + Σ_l F_l[code_l],
/// as product-quantisation re-ranking does (docs/design.md, "Ranking within collisions").
/// </summary>
/// <remarks>Pure float math; trained by k-means on train images' residuals (<see cref="Train"/>), level after level.</remarks>
public sealed class FineQuantizer
{
    /// <summary>Codes per level: one byte per level in the index.</summary>
    public const int MaxCodes = 256;

    private readonly float[] _codebooks;
    private readonly float[] _codeNormsSquared;

    /// <param name="codebooks">Levels × codes × dimension floats, row-major; copied.</param>
    public FineQuantizer(ReadOnlySpan<float> codebooks, int dimension, int levels, int codes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(levels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(codes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(codes, MaxCodes);
        if (codebooks.Length != levels * codes * dimension)
        {
            throw new ArgumentException($"{levels} levels of {codes} codes of dimension {dimension} need {levels * codes * dimension} floats, got {codebooks.Length}.", nameof(codebooks));
        }

        _codebooks = codebooks.ToArray();
        Dimension = dimension;
        Levels = levels;
        Codes = codes;
        _codeNormsSquared = new float[levels * codes];
        for (var i = 0; i < _codeNormsSquared.Length; i++)
        {
            var code = _codebooks.AsSpan(i * dimension, dimension);
            _codeNormsSquared[i] = TensorPrimitives.Dot(code, code);
        }
    }

    public int Dimension { get; }

    /// <summary>L: fine codes (bytes) per image.</summary>
    public int Levels { get; }

    /// <summary>K: codes per level.</summary>
    public int Codes { get; }

    /// <summary>All levels' codes, levels × codes × dimension.</summary>
    public ReadOnlySpan<float> Codebooks => _codebooks;

    public ReadOnlySpan<float> Code(int level, int code) => _codebooks.AsSpan(((level * Codes) + code) * Dimension, Dimension);

    /// <summary>
    /// e = v − Σ_j C[voken_j] for each row: what an image's identifier leaves of its vector, in the space of the voken
    /// codebook <paramref name="vokenCodebook"/> (N × d).
    /// </summary>
    public static float[] Residuals(ReadOnlySpan<float> vectors, ReadOnlySpan<int> vokens, int depth, ReadOnlySpan<float> vokenCodebook, int dimension)
    {
        var count = vectors.Length / dimension;
        if (vectors.Length != count * dimension || vokens.Length != count * depth)
        {
            throw new ArgumentException($"{vectors.Length} floats of width {dimension} and {vokens.Length} vokens of depth {depth} are not the same rows.");
        }

        var residuals = vectors.ToArray();
        for (var i = 0; i < count; i++)
        {
            var row = residuals.AsSpan(i * dimension, dimension);
            foreach (var voken in vokens.Slice(i * depth, depth))
            {
                TensorPrimitives.Subtract(row, vokenCodebook.Slice(voken * dimension, dimension), row);
            }
        }

        return residuals;
    }

    /// <summary>
    /// Fits L codebooks of K codes to <paramref name="residuals"/> (rows of d): k-means (Lloyd, seeded from distinct
    /// rows) on the residuals, then on what that level leaves, level after level. Deterministic for a given seed.
    /// </summary>
    public static FineQuantizer Train(ReadOnlySpan<float> residuals, int dimension, int levels = 2, int codes = MaxCodes, int iterations = 20, int seed = 7)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 1);
        var count = residuals.Length / dimension;
        if (count == 0 || residuals.Length != count * dimension)
        {
            throw new ArgumentException($"{residuals.Length} floats are not whole rows of {dimension}.", nameof(residuals));
        }

        var k = Math.Min(codes, count);
        var work = residuals.ToArray();
        var codebooks = new float[levels * codes * dimension];
        var random = new Random(seed);
        var assignment = new int[count];
        for (var level = 0; level < levels; level++)
        {
            var centres = codebooks.AsSpan(level * codes * dimension, codes * dimension);
            var order = Enumerable.Range(0, count).OrderBy(_ => random.Next()).Take(k).ToArray();
            for (var c = 0; c < k; c++)
            {
                work.AsSpan(order[c] * dimension, dimension).CopyTo(centres.Slice(c * dimension, dimension));
            }

            var sums = new double[k * dimension];
            var sizes = new int[k];
            for (var iteration = 0; iteration < iterations; iteration++)
            {
                Array.Clear(sums);
                Array.Clear(sizes);
                var level0 = new FineQuantizer(centres[..(k * dimension)], dimension, 1, k);
                for (var i = 0; i < count; i++)
                {
                    var row = work.AsSpan(i * dimension, dimension);
                    var nearest = level0.Nearest(0, row);
                    assignment[i] = nearest;
                    sizes[nearest]++;
                    for (var x = 0; x < dimension; x++)
                    {
                        sums[(nearest * dimension) + x] += row[x];
                    }
                }

                for (var c = 0; c < k; c++)
                {
                    if (sizes[c] == 0)
                    {
                        // An empty cluster takes a random row: no code is wasted.
                        work.AsSpan(random.Next(count) * dimension, dimension).CopyTo(centres.Slice(c * dimension, dimension));
                        continue;
                    }

                    for (var x = 0; x < dimension; x++)
                    {
                        centres[(c * dimension) + x] = (float)(sums[(c * dimension) + x] / sizes[c]);
                    }
                }
            }

            var fitted = new FineQuantizer(centres[..(k * dimension)], dimension, 1, k);
            for (var i = 0; i < count; i++)
            {
                var row = work.AsSpan(i * dimension, dimension);
                TensorPrimitives.Subtract(row, fitted.Code(0, fitted.Nearest(0, row)), row);
            }
        }

        // Levels fitted on fewer rows than codes leave the tail codes at zero; they are never nearer than a fitted one
        // unless the residual is zero, where any code is as good.
        return new FineQuantizer(codebooks, dimension, levels, codes);
    }

    /// <summary>Greedy codes of one residual e (L bytes): code_l = argmin_c ‖e_l − F_l[c]‖, e_{l+1} = e_l − F_l[code_l].</summary>
    public void Encode(ReadOnlySpan<float> residual, Span<byte> codes)
    {
        if (residual.Length != Dimension || codes.Length != Levels)
        {
            throw new ArgumentException($"Expected a residual of {Dimension} floats and room for {Levels} codes, got {residual.Length} and {codes.Length}.");
        }

        Span<float> rest = residual.Length <= 1024 ? stackalloc float[residual.Length] : new float[residual.Length];
        residual.CopyTo(rest);
        for (var level = 0; level < Levels; level++)
        {
            var code = Nearest(level, rest);
            codes[level] = (byte)code;
            TensorPrimitives.Subtract(rest, Code(level, code), rest);
        }
    }

    /// <summary>Fine codes (rows of L bytes) of images with these vectors and vokens.</summary>
    public byte[] EncodeImages(ReadOnlySpan<float> vectors, ReadOnlySpan<int> vokens, int depth, ReadOnlySpan<float> vokenCodebook)
    {
        var residuals = Residuals(vectors, vokens, depth, vokenCodebook, Dimension);
        var count = residuals.Length / Dimension;
        var codes = new byte[count * Levels];
        for (var i = 0; i < count; i++)
        {
            Encode(residuals.AsSpan(i * Dimension, Dimension), codes.AsSpan(i * Levels, Levels));
        }

        return codes;
    }

    /// <summary>Σ_l F_l[code_l], the decoded residual.</summary>
    public void Decode(ReadOnlySpan<byte> codes, Span<float> residual)
    {
        if (codes.Length != Levels || residual.Length != Dimension)
        {
            throw new ArgumentException($"Expected {Levels} codes and room for {Dimension} floats, got {codes.Length} and {residual.Length}.");
        }

        residual.Clear();
        for (var level = 0; level < Levels; level++)
        {
            TensorPrimitives.Add(residual, Code(level, codes[level]), residual);
        }
    }

    private int Nearest(int level, ReadOnlySpan<float> residual)
    {
        // ‖e − c‖² = ‖e‖² − 2 e·c + ‖c‖²; ‖e‖² is the same for every c. Ties go to the lower code.
        var best = 0;
        var bestScore = float.PositiveInfinity;
        for (var c = 0; c < Codes; c++)
        {
            var score = _codeNormsSquared[(level * Codes) + c] - (2f * TensorPrimitives.Dot(residual, Code(level, c)));
            if (score < bestScore)
            {
                bestScore = score;
                best = c;
            }
        }

        return best;
    }
}
