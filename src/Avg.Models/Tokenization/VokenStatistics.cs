namespace Avg.Models.Tokenization;

/// <summary>How well a tokenizer spreads images over its codebook: per-level usage and perplexity, and sequence collisions.</summary>
/// <param name="CodesUsedPerLevel">Distinct codes chosen at each level.</param>
/// <param name="PerplexityPerLevel">exp(entropy) of each level's code distribution: the effective number of codes.</param>
/// <param name="DistinctCodes">Distinct codes over all levels (the shared codebook's live size).</param>
/// <param name="DistinctSequences">Distinct full voken sequences.</param>
/// <param name="CollisionRate">1 − DistinctSequences / images: the share of images that repeat an earlier image's sequence.</param>
public sealed record VokenStatistics(int[] CodesUsedPerLevel, double[] PerplexityPerLevel, int DistinctCodes, int DistinctSequences, double CollisionRate)
{
    /// <summary>Statistics of voken rows (flat, <paramref name="levels"/> per image).</summary>
    public static VokenStatistics Compute(int[] vokens, int levels)
    {
        ArgumentNullException.ThrowIfNull(vokens);
        ArgumentOutOfRangeException.ThrowIfLessThan(levels, 1);
        if (vokens.Length % levels != 0) throw new ArgumentException($"vokens has {vokens.Length} entries, not a multiple of {levels}.", nameof(vokens));
        var count = vokens.Length / levels;
        var used = new int[levels];
        var perplexity = new double[levels];
        for (var level = 0; level < levels; level++)
        {
            var counts = new Dictionary<int, int>();
            for (var i = 0; i < count; i++) counts[vokens[i * levels + level]] = counts.GetValueOrDefault(vokens[i * levels + level]) + 1;
            used[level] = counts.Count;
            var entropy = counts.Values.Sum(c => -(double)c / count * Math.Log((double)c / count));
            perplexity[level] = Math.Exp(entropy);
        }
        var sequences = new HashSet<string>(count);
        for (var i = 0; i < count; i++) sequences.Add(string.Join(',', vokens.AsSpan(i * levels, levels).ToArray()));
        var distinctCodes = vokens.Distinct().Count();
        return new VokenStatistics(used, perplexity, distinctCodes, sequences.Count, count == 0 ? 0 : 1 - (double)sequences.Count / count);
    }
}
