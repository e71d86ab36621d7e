using Avg.Quantization;
using Avg.Tests.Support;
using FsCheck.Xunit;

namespace Avg.Core.Tests.Quantization;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class CollisionBalancerTests
{
    [Fact]
    public void Colliding_rows_move_to_their_nearest_free_code_best_fit_first()
    {
        // Rows 0, 1, 2 share (5, 7); row 3 has its own prefix. Row 1 fits code 2 best, so it keeps it;
        // row 0 then takes its next free candidate (4), row 2 finds 2 and 4 taken and takes 9.
        int[] vokens = [5, 7, 2, 5, 7, 2, 5, 7, 2, 6, 7, 2];
        int[] candidates = [2, 4, 9, 2, 4, 9, 2, 4, 9, 2, 3, 1];
        float[] distances = [0.3f, 0.5f, 0.9f, 0.1f, 0.4f, 0.8f, 0.6f, 0.7f, 1.0f, 0.2f, 0.3f, 0.4f];

        var balanced = CollisionBalancer.Assign(vokens, 3, candidates, distances, 3);

        balanced.ShouldBe([5, 7, 4, 5, 7, 2, 5, 7, 9, 6, 7, 2]);
    }

    [Fact]
    public void A_row_whose_candidates_are_all_taken_keeps_its_first_choice()
    {
        int[] vokens = [1, 3, 1, 3, 1, 3];
        int[] candidates = [3, 0, 3, 0, 3, 0];
        float[] distances = [0.1f, 0.2f, 0.1f, 0.2f, 0.1f, 0.2f];

        CollisionBalancer.Assign(vokens, 2, candidates, distances, 2).ShouldBe([1, 3, 1, 0, 1, 3]);
    }

    [Fact]
    public void Inconsistent_inputs_are_refused()
    {
        Should.Throw<ArgumentException>(() => CollisionBalancer.Assign([1, 2, 3], 2, [2], [0f], 1));
        Should.Throw<ArgumentException>(() => CollisionBalancer.Assign([1, 2], 2, [3], [0f], 1))
            .Message.ShouldContain("first candidate");
    }

    [Property(MaxTest = 50)]
    public void Never_more_collisions_prefixes_kept_and_deterministic(int seed)
    {
        var rng = new Random(seed);
        var (rows, levels, n, k) = (rng.Next(1, 120), rng.Next(1, 4), rng.Next(2, 6), rng.Next(1, 5));
        k = Math.Min(k, n);
        var vokens = new int[rows * levels];
        var candidates = new int[rows * k];
        var distances = new float[rows * k];
        for (var r = 0; r < rows; r++)
        {
            for (var l = 0; l < levels; l++) vokens[(r * levels) + l] = rng.Next(n);
            var order = Enumerable.Range(0, n).OrderBy(_ => rng.Next()).Where(c => c != vokens[(r * levels) + levels - 1]).Prepend(vokens[(r * levels) + levels - 1]).Take(k).ToArray();
            order.CopyTo(candidates, r * k);
            var d = 0f;
            for (var c = 0; c < k; c++) distances[(r * k) + c] = d += (float)rng.NextDouble();
        }

        var balanced = CollisionBalancer.Assign(vokens, levels, candidates, distances, k);

        Distinct(balanced, levels).ShouldBeGreaterThanOrEqualTo(Distinct(vokens, levels));
        for (var r = 0; r < rows; r++)
        {
            balanced.AsSpan(r * levels, levels - 1).SequenceEqual(vokens.AsSpan(r * levels, levels - 1)).ShouldBeTrue();
            candidates.AsSpan(r * k, k).Contains(balanced[(r * levels) + levels - 1]).ShouldBeTrue();
        }
        CollisionBalancer.Assign(vokens, levels, candidates, distances, k).ShouldBe(balanced);
    }

    private static int Distinct(int[] vokens, int levels) =>
        Enumerable.Range(0, vokens.Length / levels).Select(r => string.Join(',', vokens.AsSpan(r * levels, levels).ToArray())).Distinct().Count();
}
