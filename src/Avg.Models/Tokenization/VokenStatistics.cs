namespace Avg.Models.Tokenization;

/// <summary>How well a tokenizer spreads images over its codebook: per-level usage and perplexity, and sequence collisions.</summary>
/// <param name="CodesUsedPerLevel">Distinct codes chosen at each level.</param>
/// <param name="PerplexityPerLevel">exp(entropy) of each level's code distribution: the effective number of codes.</param>
/// <param name="DistinctCodes">Distinct codes over all levels (the shared codebook's live size).</param>
/// <param name="DistinctSequences">Distinct full voken sequences.</param>
/// <param name="CollisionRate">Share of images whose full sequence is shared with at least one other image (as <see cref="Avg.Retrieval.VokenTrie.CollisionRate"/>).</param>
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
        var column = new int[count];
        var codebook = vokens.Length == 0 ? 1 : vokens.Max() + 1;
        for (var level = 0; level < levels; level++)
        {
            for (var i = 0; i < count; i++) column[i] = vokens[(i * levels) + level];
            var usage = Avg.Quantization.CodebookUsage.Measure(column, codebook);
            used[level] = usage.UsedCodes;
            perplexity[level] = usage.Perplexity;
        }
        var bySequence = new Dictionary<string, int>(count);
        for (var i = 0; i < count; i++)
        {
            var key = string.Join(',', vokens.AsSpan(i * levels, levels).ToArray());
            bySequence[key] = bySequence.GetValueOrDefault(key) + 1;
        }
        var shared = bySequence.Values.Where(n => n > 1).Sum();
        var distinctCodes = vokens.Distinct().Count();
        return new VokenStatistics(used, perplexity, distinctCodes, bySequence.Count, count == 0 ? 0 : (double)shared / count);
    }
}
