using System.Numerics.Tensors;
using Avg.Quantization;
using Avg.Retrieval;
using Avg.Tests.Support;

namespace Avg.Core.Tests.Quantization;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class FineQuantizerTests
{
    private const int D = 8;

    [Fact]
    public void Each_level_takes_energy_off_what_the_identifier_leaves()
    {
        var random = new Random(3);
        var residuals = RandomRows(random, 600, D);
        var energy = Energy(residuals, null);
        var one = FineQuantizer.Train(residuals, D, levels: 1, codes: 16, seed: 1);
        var two = FineQuantizer.Train(residuals, D, levels: 2, codes: 16, seed: 1);
        var afterOne = Energy(residuals, one);
        var afterTwo = Energy(residuals, two);
        afterOne.ShouldBeLessThan(energy * 0.8);
        afterTwo.ShouldBeLessThan(afterOne * 0.9);
        two.Code(0, 5).ToArray().ShouldBe(one.Code(0, 5).ToArray(), "level 1 is fitted the same way whatever follows it");
    }

    [Fact]
    public void Encoding_picks_the_nearest_code_at_each_level_and_is_deterministic()
    {
        var random = new Random(4);
        var residuals = RandomRows(random, 200, D);
        var fine = FineQuantizer.Train(residuals, D, levels: 2, codes: 8, seed: 2);
        FineQuantizer.Train(residuals, D, levels: 2, codes: 8, seed: 2).Codebooks.ToArray().ShouldBe(fine.Codebooks.ToArray());
        var codes = new byte[2];
        var row = residuals.AsSpan(0, D).ToArray();
        fine.Encode(row, codes);
        var best = Enumerable.Range(0, 8).MinBy(c => Distance(row, fine.Code(0, c)));
        codes[0].ShouldBe((byte)best);
        var rest = row.Zip(fine.Code(0, best).ToArray(), (a, b) => a - b).ToArray();
        codes[1].ShouldBe((byte)Enumerable.Range(0, 8).MinBy(c => Distance(rest, fine.Code(1, c))));
    }

    [Fact]
    public void Residuals_are_the_vector_less_its_vokens_codes()
    {
        float[] codebook = [1, 0, 0, 1, 2, 2];
        var residuals = FineQuantizer.Residuals([5, 5, 1, 1], [0, 2, 1, 1], depth: 2, codebook, dimension: 2);
        residuals.ShouldBe([2f, 3, 1, -1]);
    }

    /// <summary>The ranker's table look-ups equal q · (Σ C[voken] + Σ F[code]) computed directly.</summary>
    [Fact]
    public void Similarity_is_the_query_dot_the_reconstructed_vector()
    {
        var random = new Random(5);
        var vokenCodebook = RandomRows(random, 6, D);
        var fine = FineQuantizer.Train(RandomRows(random, 100, D), D, levels: 2, codes: 4, seed: 3);
        var ranker = new CollisionRanker(vokenCodebook, fine);
        var queries = RandomRows(random, 2, D);
        ranker.Prepare(queries);
        int[] vokens = [4, 1, 1];
        byte[] codes = [3, 0];
        var v = new float[D];
        foreach (var voken in vokens)
        {
            TensorPrimitives.Add(v, vokenCodebook.AsSpan(voken * D, D), v);
        }

        var decoded = new float[D];
        fine.Decode(codes, decoded);
        TensorPrimitives.Add(v, decoded, v);
        ranker.Similarity(1, vokens, codes).ShouldBe(TensorPrimitives.Dot(queries.AsSpan(D, D), v), 1e-4f);
        ranker.Similarity(1, vokens, []).ShouldBe(Enumerable.Range(0, 3).Sum(i => TensorPrimitives.Dot(queries.AsSpan(D, D), vokenCodebook.AsSpan(vokens[i] * D, D))), 1e-4f);
    }

    /// <summary>Images of one leaf tie on the generator score: the ranking orders them by similarity; w = 0 keeps the search's order.</summary>
    [Fact]
    public void Ranking_orders_a_leafs_images_by_similarity_and_weight_zero_changes_nothing()
    {
        // One dimension: code c of level 0 is c, so the fine code is the image's similarity to the query q = 1.
        var fine = new FineQuantizer([0, 1, 2, 3], dimension: 1, levels: 1, codes: 4);
        var ranker = new CollisionRanker([0f, 0f], fine);
        ranker.Prepare([1f]);
        var codes = new RowFineCodes([1, 3, 0, 2], levels: 1);
        SearchHit[] hits = [new(0, -1f, [0]), new(1, -1f, [0]), new(2, -1f, [0]), new(3, -5f, [1])];
        ranker.Rank(0, hits, codes, weight: 0, k: 4).Select(h => h.ImageId).ShouldBe([0L, 1, 2, 3]);
        var ranked = ranker.Rank(0, hits, codes, weight: 1, k: 3);
        ranked.Select(h => h.ImageId).ShouldBe([1L, 0, 2], "within the leaf by similarity; image 3's leaf scores far lower");
        ranked[0].Score.ShouldBe(-1f + 3f);
        ranker.Rank(0, hits, codes, weight: 10, k: 4).Select(h => h.ImageId).ShouldBe([1L, 3, 0, 2], "a large weight also reorders across leaves");
    }

    [Fact]
    public void Search_options_collect_candidates_only_when_ranking_and_refuse_bad_weights()
    {
        new SearchOptions { K = 10 }.CandidateCount.ShouldBe(10);
        new SearchOptions { K = 10, CollisionWeight = 1 }.CandidateCount.ShouldBe(SearchOptions.DefaultCollisionCandidates);
        new SearchOptions { K = 500, CollisionWeight = 1 }.CandidateCount.ShouldBe(500);
        Should.Throw<AvgException>(() => new SearchOptions { CollisionWeight = double.NaN }.Validate()).Message.ShouldContain("Collision ranking weight");
        Should.Throw<AvgException>(() => new SearchOptions { CollisionWeight = -1 }.Validate()).Message.ShouldContain("got -1");
        Should.Throw<AvgException>(() => new SearchOptions { CollisionCandidates = 0 }.Validate()).Message.ShouldContain("candidates");
    }

    private static float[] RandomRows(Random random, int count, int width) =>
        Enumerable.Range(0, count * width).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();

    private static float Distance(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var sum = 0f;
        for (var i = 0; i < a.Length; i++)
        {
            sum += (a[i] - b[i]) * (a[i] - b[i]);
        }

        return sum;
    }

    private static double Energy(float[] residuals, FineQuantizer? fine)
    {
        var total = 0.0;
        var decoded = new float[D];
        var codes = new byte[fine?.Levels ?? 0];
        for (var i = 0; i < residuals.Length / D; i++)
        {
            var row = residuals.AsSpan(i * D, D);
            if (fine is null)
            {
                decoded.AsSpan().Clear();
            }
            else
            {
                fine.Encode(row, codes);
                fine.Decode(codes, decoded);
            }

            total += Distance(row, decoded);
        }

        return total;
    }
}
