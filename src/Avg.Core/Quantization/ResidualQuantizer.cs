using System.Buffers;
using System.Numerics.Tensors;

namespace Avg.Quantization;

/// <summary>
/// Residual quantization with one shared codebook (paper §3.1, eq. 2–3), the inference half of the image
/// tokenizer: r₁ = v, voken_j = argmin_c ‖r_j − c‖, r_{j+1} = r_j − C[voken_j]; decoding sums the chosen codes.
/// </summary>
/// <remarks>Pure float math on flat row-major arrays; the training half (gradients, EMA, dead-code re-seeding) lives with the model.</remarks>
public sealed class ResidualQuantizer
{
    private readonly float[] _codebook;
    private readonly float[] _codeNormsSquared;

    /// <param name="codebook">N × d codes, row-major; copied.</param>
    /// <param name="steps">M: vokens per vector.</param>
    public ResidualQuantizer(ReadOnlySpan<float> codebook, int dimension, int steps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        if (codebook.Length == 0 || codebook.Length % dimension != 0)
        {
            throw new ArgumentException($"A codebook of dimension {dimension} needs a positive multiple of {dimension} floats, got {codebook.Length}.", nameof(codebook));
        }

        _codebook = codebook.ToArray();
        Dimension = dimension;
        Steps = steps;
        CodeCount = codebook.Length / dimension;
        _codeNormsSquared = new float[CodeCount];
        for (var c = 0; c < CodeCount; c++)
        {
            var code = Code(c);
            _codeNormsSquared[c] = TensorPrimitives.Dot(code, code);
        }
    }

    /// <summary>N: codebook size, the voken vocabulary.</summary>
    public int CodeCount { get; }

    public int Dimension { get; }

    /// <summary>M: vokens per vector.</summary>
    public int Steps { get; }

    public ReadOnlySpan<float> Codebook => _codebook;

    public ReadOnlySpan<float> Code(int index) => _codebook.AsSpan(index * Dimension, Dimension);

    /// <summary>Index of the code nearest to <paramref name="residual"/> (squared L2; ties go to the lower index).</summary>
    public int Nearest(ReadOnlySpan<float> residual)
    {
        // ‖r − c‖² = ‖r‖² − 2 r·c + ‖c‖²; ‖r‖² is the same for every c.
        var best = 0;
        var bestScore = float.PositiveInfinity;
        for (var c = 0; c < CodeCount; c++)
        {
            var score = _codeNormsSquared[c] - (2f * TensorPrimitives.Dot(residual, Code(c)));
            if (score < bestScore)
            {
                bestScore = score;
                best = c;
            }
        }

        return best;
    }

    /// <summary>Greedy residual encoding of one vector into <see cref="Steps"/> vokens.</summary>
    public void Encode(ReadOnlySpan<float> vector, Span<int> vokens)
    {
        var rented = ArrayPool<float>.Shared.Rent(Dimension);
        try
        {
            Encode(vector, vokens, rented.AsSpan(0, Dimension));
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>Greedy residual encoding; leaves the final residual r_{M+1} = v − decode(vokens) in <paramref name="residual"/>.</summary>
    public void Encode(ReadOnlySpan<float> vector, Span<int> vokens, Span<float> residual)
    {
        CheckVector(vector.Length, nameof(vector));
        CheckVector(residual.Length, nameof(residual));
        if (vokens.Length != Steps)
        {
            throw new ArgumentException($"Expected room for {Steps} vokens, got {vokens.Length}.", nameof(vokens));
        }

        vector.CopyTo(residual);
        for (var j = 0; j < Steps; j++)
        {
            var code = Nearest(residual);
            vokens[j] = code;
            TensorPrimitives.Subtract(residual, Code(code), residual);
        }
    }

    /// <summary>The quantized vector ẑ^(M): the sum of the chosen codes.</summary>
    public void Decode(ReadOnlySpan<int> vokens, Span<float> vector)
    {
        CheckVector(vector.Length, nameof(vector));
        vector.Clear();
        foreach (var v in vokens)
        {
            if ((uint)v >= (uint)CodeCount)
            {
                throw new ArgumentOutOfRangeException(nameof(vokens), v, $"Voken {v} is outside the codebook [0, {CodeCount}).");
            }

            TensorPrimitives.Add(vector, Code(v), vector);
        }
    }

    /// <summary>Encodes count × d vectors (row-major) into count × M vokens.</summary>
    public void EncodeBatch(ReadOnlySpan<float> vectors, Span<int> vokens)
    {
        var count = RowCount(vectors.Length, nameof(vectors));
        if (vokens.Length != count * Steps)
        {
            throw new ArgumentException($"Expected room for {count} × {Steps} vokens, got {vokens.Length}.", nameof(vokens));
        }

        var rented = ArrayPool<float>.Shared.Rent(Dimension);
        try
        {
            var residual = rented.AsSpan(0, Dimension);
            for (var i = 0; i < count; i++)
            {
                Encode(vectors.Slice(i * Dimension, Dimension), vokens.Slice(i * Steps, Steps), residual);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>Decodes count × M vokens into count × d vectors (row-major).</summary>
    public void DecodeBatch(ReadOnlySpan<int> vokens, Span<float> vectors)
    {
        if (vokens.Length % Steps != 0)
        {
            throw new ArgumentException($"Voken count {vokens.Length} is not a multiple of M = {Steps}.", nameof(vokens));
        }

        var count = vokens.Length / Steps;
        if (vectors.Length != count * Dimension)
        {
            throw new ArgumentException($"Expected room for {count} × {Dimension} floats, got {vectors.Length}.", nameof(vectors));
        }

        for (var i = 0; i < count; i++)
        {
            Decode(vokens.Slice(i * Steps, Steps), vectors.Slice(i * Dimension, Dimension));
        }
    }

    private void CheckVector(int length, string name)
    {
        if (length != Dimension)
        {
            throw new ArgumentException($"Expected a vector of dimension {Dimension}, got {length}.", name);
        }
    }

    private int RowCount(int length, string name)
    {
        if (length % Dimension != 0)
        {
            throw new ArgumentException($"{length} floats is not a whole number of {Dimension}-dimensional vectors.", name);
        }

        return length / Dimension;
    }
}
