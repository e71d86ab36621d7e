namespace Avg.Quantization;

/// <summary>How evenly a codebook is used: collapse (few codes, low perplexity) is the usual failure of VQ training.</summary>
/// <param name="Counts">Occurrences of each code.</param>
/// <param name="UsedCodes">Codes that occur at least once.</param>
/// <param name="Perplexity">exp(entropy) of the code distribution: N when uniform, 1 when one code takes all.</param>
public sealed record CodebookUsage(IReadOnlyList<int> Counts, int UsedCodes, double Perplexity)
{
    /// <summary>Usage over all vokens given (any layout, e.g. count × M).</summary>
    public static CodebookUsage Measure(ReadOnlySpan<int> vokens, int codeCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(codeCount, 1);
        var counts = new int[codeCount];
        foreach (var v in vokens)
        {
            if ((uint)v >= (uint)codeCount)
            {
                throw new ArgumentOutOfRangeException(nameof(vokens), v, $"Voken {v} is outside the codebook [0, {codeCount}).");
            }

            counts[v]++;
        }

        var used = 0;
        var entropy = 0.0;
        foreach (var c in counts)
        {
            if (c > 0)
            {
                used++;
                var p = (double)c / vokens.Length;
                entropy -= p * Math.Log(p);
            }
        }

        return new CodebookUsage(counts, used, vokens.Length == 0 ? 0 : Math.Exp(entropy));
    }
}
