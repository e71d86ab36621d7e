using Avg.Data;
using Avg.Tests.Support;
using FsCheck.Xunit;

namespace Avg.Core.Tests.Data;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class LengthBucketsTests
{
    [Fact]
    public void Each_batch_of_a_pool_holds_neighbouring_lengths()
    {
        // One pool of 3 batches of 2: sorted lengths 1,2 | 3,4 | 5,6, batches then shuffled as wholes.
        int[] lengths = [5, 1, 6, 3, 2, 4];
        int[] order = [0, 1, 2, 3, 4, 5];

        var bucketed = LengthBuckets.Order(order, lengths, 2, 3, new Random(3));

        var batches = bucketed.Chunk(2).Select(b => b.Select(i => lengths[i]).Order().ToArray()).ToArray();
        batches.OrderBy(b => b[0]).ShouldBe([[1, 2], [3, 4], [5, 6]]);
    }

    [Fact]
    public void Padding_falls_on_shapes_like_lengths()
    {
        var random = new Random(5);
        var lengths = Enumerable.Range(0, 12_800).Select(_ => random.Next(1, 38)).ToArray();
        var order = Enumerable.Range(0, lengths.Length).ToArray();
        random.Shuffle(order);

        static double Padded(int[] order, int[] lengths) =>
            order.Chunk(128).Sum(b => b.Max(i => lengths[i]) * 128.0) / order.Sum(i => (double)lengths[i]);

        var plain = Padded(order, lengths);
        var bucketed = Padded(LengthBuckets.Order(order, lengths, 128, 50, new Random(5)), lengths);

        plain.ShouldBeGreaterThan(1.8);
        bucketed.ShouldBeLessThan(1.1);
    }

    [Property(MaxTest = 100)]
    public void A_permutation_that_keeps_the_tail_and_is_deterministic(int seed)
    {
        var random = new Random(seed);
        var (count, batch, pool) = (random.Next(0, 300), random.Next(1, 20), random.Next(1, 6));
        var lengths = Enumerable.Range(0, count).Select(_ => random.Next(1, 10)).ToArray();
        var order = Enumerable.Range(0, count).ToArray();
        random.Shuffle(order);

        var first = LengthBuckets.Order(order, lengths, batch, pool, new Random(seed));
        var second = LengthBuckets.Order(order, lengths, batch, pool, new Random(seed));

        first.ShouldBe(second);
        first.Order().ShouldBe(Enumerable.Range(0, count));
        var full = count / batch * batch;
        first[full..].ShouldBe(order[full..]);
    }
}
