using Avg.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Avg.Cluster.Tests.BadInput;

/// <summary>The search limits hold for grain callers too, not only behind HTTP: the query grain refuses before it sizes anything by them.</summary>
[Collection(BadInputSilo.Name)]
[Trait(TestCategory.Name, TestCategory.Integration)]
public class GrainLimitTests(BadInputSiloFixture fixture)
{
    public static TheoryData<int, int, int[]?, string> OverLimit => new()
    {
        { 10, 1_000_000, null, "beam" },
        { int.MaxValue, 20, null, "k" },
        { 0, 20, null, "k" },
        { 10, 20, Enumerable.Repeat(1_000_000, 3).ToArray(), "levelBeams" },
        { 10, 20, Enumerable.Repeat(1, 100_000).ToArray(), "levelBeams" },
    };

    [Theory]
    [MemberData(nameof(OverLimit))]
    public async Task A_grain_caller_asking_past_the_limits_gets_a_request_exception_naming_the_field(int k, int beam, int[]? levelBeams, string named)
    {
        var grains = fixture.Silo.App.Services.GetRequiredService<IGrainFactory>();
        var request = new SearchRequest { Query = "a red circle", K = k, Beam = beam, LevelBeams = levelBeams };

        var refused = await Should.ThrowAsync<InvalidRequestException>(() => grains.GetGrain<IQueryGrain>(0).Search(request));

        refused.Message.ShouldContain(named);
        refused.Errors.Keys.ShouldContain(named);
        // A user error, not a fault of the cluster: HTTP answers it 400, never 503 with Retry-After.
        var failure = Avg.Silo.Http.ServiceFailure.Classify(refused);
        failure.Status.ShouldBe(400);
        failure.RetryAfterSeconds.ShouldBeNull();
    }

    [Fact]
    public async Task A_shard_caller_with_features_of_the_wrong_width_gets_a_request_exception_and_a_cluster_fault_stays_503()
    {
        var grains = fixture.Silo.App.Services.GetRequiredService<IGrainFactory>();
        var refused = await Should.ThrowAsync<InvalidRequestException>(() =>
            grains.GetGrain<ITokenizationShardGrain>(0).Ingest([new IngestItem { Id = "w", Features = [1f, 2f, 3f] }]));
        refused.Errors.Keys.ShouldBe(["features"]);
        refused.Message.ShouldContain("'w' has 3 features");
        Avg.Silo.Http.ServiceFailure.Classify(new AvgException("the model host is not ready")).Status.ShouldBe(503);
    }

    [Fact]
    public async Task A_grain_caller_with_an_empty_or_oversized_query_is_refused()
    {
        var grains = fixture.Silo.App.Services.GetRequiredService<IGrainFactory>();
        await Should.ThrowAsync<InvalidRequestException>(() => grains.GetGrain<IQueryGrain>(0).Search(new SearchRequest { Query = "" }));
        await Should.ThrowAsync<InvalidRequestException>(() => grains.GetGrain<IQueryGrain>(0).Search(new SearchRequest { Query = new string('a', 1001) }));
        (await grains.GetGrain<IQueryGrain>(0).Search(new SearchRequest { Query = "a red circle", K = 100, Beam = 100 })).Items.Length.ShouldBeGreaterThan(0);
    }
}
