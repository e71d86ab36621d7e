using Microsoft.Extensions.DependencyInjection;

namespace Avg.Cluster.Tests.BadInput;

/// <summary>The search limits hold for grain callers too, not only behind HTTP: the query grain refuses before it sizes anything by them.</summary>
[Collection(BadInputSilo.Name)]
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
    public async Task A_grain_caller_asking_past_the_limits_gets_an_AvgException(int k, int beam, int[]? levelBeams, string named)
    {
        var grains = fixture.Silo.App.Services.GetRequiredService<IGrainFactory>();
        var request = new SearchRequest { Query = "a red circle", K = k, Beam = beam, LevelBeams = levelBeams };

        var refused = await Should.ThrowAsync<AvgException>(() => grains.GetGrain<IQueryGrain>(0).Search(request));

        refused.Message.ShouldContain(named);
    }

    [Fact]
    public async Task A_grain_caller_with_an_empty_or_oversized_query_is_refused()
    {
        var grains = fixture.Silo.App.Services.GetRequiredService<IGrainFactory>();
        await Should.ThrowAsync<AvgException>(() => grains.GetGrain<IQueryGrain>(0).Search(new SearchRequest { Query = "" }));
        await Should.ThrowAsync<AvgException>(() => grains.GetGrain<IQueryGrain>(0).Search(new SearchRequest { Query = new string('a', 1001) }));
        (await grains.GetGrain<IQueryGrain>(0).Search(new SearchRequest { Query = "a red circle", K = 100, Beam = 100 })).Items.Length.ShouldBeGreaterThan(0);
    }
}
