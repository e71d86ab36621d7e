using Avg.Retrieval;
using Avg.Tests.Support;
using FsCheck.Xunit;

namespace Avg.Core.Tests.Retrieval;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class BoundedTopKTests
{
    /// <summary>Popping everything kept gives the k best of all offered, worst first: a full sort by (score desc, key asc), cut at k.</summary>
    [Property(MaxTest = 300)]
    public void Keeps_the_k_best_in_ranking_order_with_ties_to_the_smaller_key(int seed)
    {
        var rng = new Random(seed);
        var capacity = rng.Next(1, 40);
        var k = rng.Next(0, capacity + 1);
        var count = rng.Next(0, 120);
        // Few score levels on some seeds, so that ties decide.
        var levels = rng.Next(2) == 0 ? 4 : 100_000;
        var items = Enumerable.Range(0, count).Select(i => (Score: (float)rng.Next(levels), Key: rng.Next(1000), Payload: i)).ToArray();
        var top = new BoundedTopK<SmallerKeyFirst>(capacity);
        top.Reset(k);
        foreach (var (score, key, payload) in items)
        {
            top.Offer(score, key, payload);
        }

        var expected = items.OrderByDescending(x => x.Score).ThenBy(x => x.Key).Take(k).Select(x => (x.Score, x.Key)).ToArray();
        top.Count.ShouldBe(expected.Length);
        var popped = new List<(float, int)>();
        while (top.Count > 0)
        {
            var (score, key, _) = top.PopWorst();
            popped.Add((score, key));
        }

        popped.Reverse();
        popped.ShouldBe(expected);
    }

    [Fact]
    public void Reset_empties_it_and_the_payload_travels_with_its_item()
    {
        var top = new BoundedTopK<SmallerKeyFirst>(3);
        top.Offer(1f, 10, 100);
        top.Offer(5f, 20, 200);
        top.Offer(3f, 30, 300);
        top.Offer(4f, 40, 400);

        top.PopWorst().ShouldBe((3f, 30, 300));
        top.PopWorst().ShouldBe((4f, 40, 400));
        top.PopWorst().ShouldBe((5f, 20, 200));
        Should.Throw<InvalidOperationException>(() => top.PopWorst());

        top.Offer(2f, 1, 1);
        top.Reset(2);
        top.Count.ShouldBe(0);
        Should.Throw<ArgumentOutOfRangeException>(() => top.Reset(4));
    }
}
