using Avg.Evaluation;
using Avg.Tests.Support;
using FsCheck.Xunit;

namespace Avg.Core.Tests.Evaluation;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class EvaluationTests
{
    [Fact]
    public void Recall_by_hand()
    {
        IReadOnlyList<long>[] ranked =
        [
            [7, 3, 9],          // truth 7 at rank 1
            [1, 2, 3, 4, 5, 6], // truth 6 at rank 6
            [4, 8],             // truth 5 missing
            [2, 5, 1, 9, 11],   // truth 11 at rank 5
        ];
        long[] truth = [7, 6, 5, 11];

        Recall.AtKs(ranked, truth, [1, 5, 10]).ShouldBe([0.25, 0.5, 0.75]);
        Recall.AtK(ranked, truth, 6).ShouldBe(0.75);
        Recall.AtKs([], [], Recall.PaperLevels).ShouldBe([0.0, 0.0, 0.0]);
        Should.Throw<ArgumentException>(() => Recall.AtK(ranked, [1], 1)).Message.ShouldContain("4 ranked lists but 1");
    }

    [Property(MaxTest = 100)]
    public void Exact_search_equals_a_full_sort(int seed)
    {
        var rng = new Random(seed);
        var (d, n, k) = (rng.Next(1, 8), rng.Next(1, 60), rng.Next(1, 70));
        var images = new float[n * d];
        for (var i = 0; i < images.Length; i++)
        {
            // Coarse values produce duplicate rows, so ties must go to the lower row.
            images[i] = rng.Next(-2, 3);
        }

        var ids = Enumerable.Range(0, n).Select(i => 1000L + (7 * i)).ToArray();
        var search = new ExactDotProductSearch(images, d, ids);
        var queries = new float[3 * d];
        for (var i = 0; i < queries.Length; i++)
        {
            queries[i] = rng.Next(-3, 4);
        }

        var results = search.SearchBatch(queries, k);

        for (var q = 0; q < 3; q++)
        {
            var query = queries.AsSpan(q * d, d).ToArray();
            var queryNorm = MathF.Sqrt(query.Sum(x => x * x));
            var expected = Enumerable.Range(0, n)
                .Select(i =>
                {
                    var row = images.AsSpan(i * d, d).ToArray();
                    var norm = MathF.Sqrt(row.Sum(x => x * x));
                    var dot = 0f;
                    for (var j = 0; j < d; j++)
                    {
                        dot += row[j] * query[j];
                    }

                    return (Row: i, Score: norm == 0 || queryNorm == 0 ? 0 : dot / norm / queryNorm);
                })
                .ToList();
            var actual = results[q];
            actual.Length.ShouldBe(Math.Min(k, n));
            for (var i = 0; i < actual.Length; i++)
            {
                var row = (int)((actual[i].ImageId - 1000) / 7);
                actual[i].Score.ShouldBe(expected[row].Score, 1e-4f);
                if (i > 0)
                {
                    // Ranked by score, ties by row.
                    var previousRow = (int)((actual[i - 1].ImageId - 1000) / 7);
                    (actual[i - 1].Score > actual[i].Score || (actual[i - 1].Score == actual[i].Score && previousRow < row)).ShouldBeTrue();
                }
            }

            // Nothing left out scores higher than the last kept (beyond float noise).
            if (actual.Length < n)
            {
                var kept = actual.Select(a => (int)((a.ImageId - 1000) / 7)).ToHashSet();
                var bestLeftOut = expected.Where(e => !kept.Contains(e.Row)).Max(e => e.Score);
                bestLeftOut.ShouldBeLessThanOrEqualTo(actual[^1].Score + 1e-5f);
            }
        }
    }

    [Fact]
    public void Exact_search_breaks_ties_by_row()
    {
        float[] images = [1, 0, 2, 0, 0, 1, 3, 0]; // rows 0, 1, 3 are the same direction
        var search = new ExactDotProductSearch(images, 2);
        search.Search([1, 0], 3).Select(h => h.ImageId).ShouldBe([0L, 1L, 3L]);
        search.Search([5, 0], 2).Select(h => h.Score).ShouldBe([1f, 1f]);
    }
}
