namespace Avg.Evaluation;

/// <summary>Recall@K for text-to-image retrieval (paper §4): the share of queries whose ground-truth image is in the top K.</summary>
public static class Recall
{
    /// <summary>Recall levels reported by the paper and the design (R@1, R@5, R@10).</summary>
    public static IReadOnlyList<int> PaperLevels { get; } = [1, 5, 10];

    /// <summary>Recall@K for one K.</summary>
    public static double AtK(IReadOnlyList<IReadOnlyList<long>> ranked, IReadOnlyList<long> groundTruth, int k) =>
        AtKs(ranked, groundTruth, [k])[0];

    /// <summary>Recall@K for each K in <paramref name="ks"/> in one pass; 0 for no queries.</summary>
    /// <param name="ranked">Per query, image ids best first (may be shorter than K).</param>
    /// <param name="groundTruth">Per query, the id of the image its caption describes.</param>
    public static double[] AtKs(IReadOnlyList<IReadOnlyList<long>> ranked, IReadOnlyList<long> groundTruth, IReadOnlyList<int> ks)
    {
        ArgumentNullException.ThrowIfNull(ranked);
        ArgumentNullException.ThrowIfNull(groundTruth);
        ArgumentNullException.ThrowIfNull(ks);
        if (ranked.Count != groundTruth.Count)
        {
            throw new ArgumentException($"{ranked.Count} ranked lists but {groundTruth.Count} ground-truth images: one of each per query.", nameof(groundTruth));
        }

        foreach (var k in ks)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(k, 1, nameof(ks));
        }

        var hits = new int[ks.Count];
        for (var q = 0; q < ranked.Count; q++)
        {
            var list = ranked[q];
            var rank = -1;
            for (var i = 0; i < list.Count; i++)
            {
                if (list[i] == groundTruth[q])
                {
                    rank = i;
                    break;
                }
            }

            for (var j = 0; j < ks.Count; j++)
            {
                if (rank >= 0 && rank < ks[j])
                {
                    hits[j]++;
                }
            }
        }

        var result = new double[ks.Count];
        for (var j = 0; j < ks.Count; j++)
        {
            result[j] = ranked.Count == 0 ? 0 : (double)hits[j] / ranked.Count;
        }

        return result;
    }
}
