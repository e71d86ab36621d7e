using Avg.Quantization;
using Avg.Tests.Support;
using FsCheck.Xunit;

namespace Avg.Core.Tests.Quantization;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class ResidualQuantizerTests
{
    [Property(MaxTest = 100)]
    public void Decode_of_encode_is_the_sum_of_the_chosen_codes_and_v_minus_the_final_residual(int seed)
    {
        var rng = new Random(seed);
        var (d, n, m) = (rng.Next(1, 9), rng.Next(1, 12), rng.Next(1, 6));
        var quantizer = new ResidualQuantizer(RandomVectors(rng, n, d), d, m);
        var v = RandomVectors(rng, 1, d);
        var vokens = new int[m];
        var residual = new float[d];

        quantizer.Encode(v, vokens, residual);
        var decoded = new float[d];
        quantizer.Decode(vokens, decoded);

        var sum = new float[d];
        foreach (var code in vokens)
        {
            code.ShouldBeInRange(0, n - 1);
            for (var j = 0; j < d; j++)
            {
                sum[j] += quantizer.Code(code)[j];
            }
        }

        for (var j = 0; j < d; j++)
        {
            decoded[j].ShouldBe(sum[j], 1e-5f);
            (v[j] - decoded[j]).ShouldBe(residual[j], 1e-4f);
        }
    }

    [Property(MaxTest = 100)]
    public void Each_step_picks_the_nearest_code_and_never_grows_the_residual_when_zero_is_a_code(int seed)
    {
        var rng = new Random(seed);
        var (d, n, m) = (rng.Next(1, 9), rng.Next(2, 12), rng.Next(1, 6));
        var codebook = RandomVectors(rng, n, d);
        Array.Clear(codebook, 0, d); // code 0 is the zero vector, so ‖r − c*‖ ≤ ‖r − 0‖
        var quantizer = new ResidualQuantizer(codebook, d, m);
        var v = RandomVectors(rng, 1, d);
        var vokens = new int[m];
        quantizer.Encode(v, vokens);

        var r = (float[])v.Clone();
        for (var step = 0; step < m; step++)
        {
            var distances = Enumerable.Range(0, n).Select(c => Distance2(r, quantizer.Code(c).ToArray())).ToArray();
            distances[vokens[step]].ShouldBe(distances.Min(), 1e-4);
            var before = Distance2(r, new float[d]);
            for (var j = 0; j < d; j++)
            {
                r[j] -= quantizer.Code(vokens[step])[j];
            }

            Distance2(r, new float[d]).ShouldBeLessThanOrEqualTo(before + 1e-5);
        }
    }

    [Property(MaxTest = 100)]
    public void A_sum_of_codes_from_an_orthogonal_codebook_encodes_back_to_those_codes(int seed)
    {
        // Codes are 2^(M−1−l)·e_i: step j of the sum uses amplitude 2^(M−1−j) on its own axis, so the
        // greedy choice at step j is exactly that code.
        var rng = new Random(seed);
        var (d, m) = (rng.Next(4, 12), rng.Next(1, 4));
        var codebook = new float[d * m * d];
        for (var i = 0; i < d; i++)
        {
            for (var l = 0; l < m; l++)
            {
                codebook[(((i * m) + l) * d) + i] = MathF.Pow(2, m - 1 - l);
            }
        }

        var quantizer = new ResidualQuantizer(codebook, d, m);
        var axes = Enumerable.Range(0, d).OrderBy(_ => rng.Next()).Take(m).ToArray();
        var expected = Enumerable.Range(0, m).Select(j => (axes[j] * m) + j).ToArray();
        var v = new float[d];
        foreach (var code in expected)
        {
            for (var j = 0; j < d; j++)
            {
                v[j] += quantizer.Code(code)[j];
            }
        }

        var vokens = new int[m];
        quantizer.Encode(v, vokens);

        vokens.ShouldBe(expected);
    }

    [Fact]
    public void Batches_equal_one_at_a_time()
    {
        var rng = new Random(3);
        var (d, n, m, count) = (6, 10, 3, 9);
        var quantizer = new ResidualQuantizer(RandomVectors(rng, n, d), d, m);
        var vectors = RandomVectors(rng, count, d);
        var batch = new int[count * m];
        quantizer.EncodeBatch(vectors, batch);
        var decoded = new float[count * d];
        quantizer.DecodeBatch(batch, decoded);

        for (var i = 0; i < count; i++)
        {
            var one = new int[m];
            quantizer.Encode(vectors.AsSpan(i * d, d), one);
            batch.AsSpan(i * m, m).ToArray().ShouldBe(one);
            var v = new float[d];
            quantizer.Decode(one, v);
            decoded.AsSpan(i * d, d).ToArray().ShouldBe(v);
        }
    }

    [Fact]
    public void Shape_mistakes_are_refused_with_the_sizes()
    {
        Should.Throw<ArgumentException>(() => new ResidualQuantizer(new float[7], 3, 2)).Message.ShouldContain("got 7");
        var quantizer = new ResidualQuantizer(new float[6], 3, 2);
        Should.Throw<ArgumentException>(() => quantizer.Encode(new float[4], new int[2])).Message.ShouldContain("dimension 3, got 4");
        Should.Throw<ArgumentOutOfRangeException>(() => quantizer.Decode([0, 2], new float[3])).Message.ShouldContain("Voken 2");
    }

    [Fact]
    public void Codebook_usage_counts_codes_and_perplexity()
    {
        var usage = CodebookUsage.Measure([0, 0, 1, 1, 0, 1], codeCount: 4);
        usage.Counts.ShouldBe([3, 3, 0, 0]);
        usage.UsedCodes.ShouldBe(2);
        usage.Perplexity.ShouldBe(2.0, 1e-12);
        CodebookUsage.Measure([2, 2, 2], 4).Perplexity.ShouldBe(1.0, 1e-12);
        CodebookUsage.Measure([0, 1, 2, 3], 4).Perplexity.ShouldBe(4.0, 1e-12);
    }

    internal static float[] RandomVectors(Random rng, int count, int d)
    {
        var data = new float[count * d];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = (float)((rng.NextDouble() * 2) - 1);
        }

        return data;
    }

    private static double Distance2(float[] a, float[] b)
    {
        var s = 0.0;
        for (var i = 0; i < a.Length; i++)
        {
            s += (a[i] - b[i]) * (double)(a[i] - b[i]);
        }

        return s;
    }
}
