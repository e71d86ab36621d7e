using Avg.Cluster.Telemetry;
using Avg.Tests.Support;

namespace Avg.Cluster.Tests;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class ShardThroughputTests
{
    [Fact]
    public void Rate_is_images_over_the_last_ten_seconds_and_falls_to_zero_after()
    {
        var throughput = new ShardThroughput();
        throughput.Record(shard: 1, images: 30, nowSeconds: 1_000);
        throughput.Record(shard: 1, images: 20, nowSeconds: 1_004);

        throughput.Rate(1, 1_004).ShouldBe(5.0);
        throughput.Rate(1, 1_009).ShouldBe(5.0);
        throughput.Rate(1, 1_010).ShouldBe(2.0, "second 1000 left the window");
        throughput.Rate(1, 1_014).ShouldBe(0.0);
        throughput.Rate(0, 1_004).ShouldBe(0.0, "another shard");
        throughput.Shards.ShouldBe([1]);
    }

    [Fact]
    public void History_has_five_minutes_in_five_second_steps_oldest_first()
    {
        var throughput = new ShardThroughput();
        throughput.Record(0, 50, nowSeconds: 10_000);
        throughput.Record(0, 10, nowSeconds: 10_096);

        var history = throughput.History(0, nowSeconds: 10_100);
        history.Length.ShouldBe(ShardThroughput.HistorySeconds / ShardThroughput.HistoryStepSeconds);
        history[^1].ShouldBe(2.0, "10 images in seconds 10096..10100");
        history[^21].ShouldBe(10.0, "50 images in seconds 9996..10000");
        history.Sum().ShouldBe(12.0);
    }

    [Fact]
    public void Buckets_older_than_the_history_are_not_counted_again_when_their_slot_is_reused()
    {
        var throughput = new ShardThroughput();
        throughput.Record(0, 100, nowSeconds: 0);
        throughput.Record(0, 7, nowSeconds: ShardThroughput.HistorySeconds);

        throughput.Rate(0, ShardThroughput.HistorySeconds).ShouldBe(0.7);
        throughput.History(0, ShardThroughput.HistorySeconds).Sum().ShouldBe(7.0 / ShardThroughput.HistoryStepSeconds);
    }
}
