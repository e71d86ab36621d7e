namespace Avg.Retrieval;

/// <summary>
/// How often each voken stands at each level of the identifiers a generator was trained on, used to divide the
/// generator's probability of a sequence by the sequence's train frequency (to a power α) when ranking an index.
/// </summary>
/// <remarks>
/// The generator learns P(sequence | text) over the train images, which is P(text | sequence) · P_train(sequence)
/// up to a constant: a sequence that many train images share is favoured whatever the text says. An index of other
/// images has its own frequencies, so ranking it by P(text | sequence) removes a popularity bias the index does not
/// share. P_train(sequence) is taken as the product of the per-level voken frequencies (add-one smoothed), and the
/// correction is tempered by α: a sequence's score becomes Σ log P(v_l | prefix, text) − α · Σ log P_train,l(v_l).
/// α = 0 is the paper's score. The measured effect is in docs/training.md ("Dividing out the train frequencies").
/// </remarks>
public sealed class VokenPrior
{
    private readonly float[] _bias;

    private VokenPrior(float[] bias, int levels, int codebookSize, double weight)
    {
        _bias = bias;
        Levels = levels;
        CodebookSize = codebookSize;
        Weight = weight;
    }

    /// <summary>Identifier length M the frequencies are for.</summary>
    public int Levels { get; }

    /// <summary>Codebook size N the frequencies are for.</summary>
    public int CodebookSize { get; }

    /// <summary>α: how much of the log train frequency is taken off each step's log-probability.</summary>
    public double Weight { get; }

    /// <summary>
    /// α where none is given (<see cref="SearchPreset.Default"/>): chosen on the val splits, where it raised R@10 by 1.0
    /// on Shapes 20K and by 1.8 on the quick set at no cost in speed (docs/training.md, "Dividing out the train frequencies").
    /// </summary>
    public const double DefaultWeight = 0.4;

    /// <summary>Whether α can be used: a finite number ≥ 0 (0 is the paper's score). Every place that takes α checks with this.</summary>
    public static bool IsValidWeight(double weight) => double.IsFinite(weight) && weight >= 0;

    /// <summary>Per level, how many of <paramref name="vokens"/>' sequences (rows of <paramref name="levels"/>) have each voken there.</summary>
    public static int[][] Count(ReadOnlySpan<int> vokens, int levels, int codebookSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(levels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(codebookSize, 1);
        if (vokens.Length % levels != 0)
            throw new ArgumentException($"{vokens.Length} vokens are not whole sequences of {levels}", nameof(vokens));
        var counts = new int[levels][];
        for (var level = 0; level < levels; level++) counts[level] = new int[codebookSize];
        for (var i = 0; i < vokens.Length; i++)
        {
            var voken = vokens[i];
            if ((uint)voken >= (uint)codebookSize)
                throw new ArgumentOutOfRangeException(nameof(vokens), $"voken {voken} is outside the codebook of {codebookSize}");
            counts[i % levels][voken]++;
        }

        return counts;
    }

    /// <summary>The prior from per-level counts (<see cref="Count"/>), at weight α = <paramref name="weight"/>.</summary>
    public static VokenPrior FromCounts(IReadOnlyList<IReadOnlyList<int>> counts, double weight)
    {
        ArgumentNullException.ThrowIfNull(counts);
        if (!IsValidWeight(weight))
            throw new AvgException($"The prior weight must be a finite number ≥ 0, got {weight}.");
        if (counts.Count == 0 || counts[0].Count == 0)
            throw new AvgException("The voken prior needs counts for at least one level and one voken.");
        var levels = counts.Count;
        var n = counts[0].Count;
        var bias = new float[levels * n];
        for (var level = 0; level < levels; level++)
        {
            if (counts[level].Count != n)
                throw new AvgException($"The voken prior's level {level + 1} has {counts[level].Count} counts, level 1 has {n}.");
            long total = 0;
            foreach (var c in counts[level])
            {
                if (c < 0) throw new AvgException($"The voken prior's level {level + 1} has a negative count.");
                total += c;
            }

            for (var v = 0; v < n; v++)
                bias[level * n + v] = (float)(-weight * Math.Log((counts[level][v] + 1.0) / (total + n)));
        }

        return new VokenPrior(bias, levels, n, weight);
    }

    /// <summary>What is added to the log-probability of <paramref name="voken"/> at <paramref name="level"/>: −α · log P_train,level(voken).</summary>
    public float Bias(int level, int voken) => _bias[level * CodebookSize + voken];

    /// <summary>The same as <see cref="Bias"/> for one level, all vokens.</summary>
    public ReadOnlySpan<float> LevelBias(int level) => _bias.AsSpan(level * CodebookSize, CodebookSize);
}
