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
        refused.Errors.Keys.ShouldBe(["images[0].features"]);
        refused.Message.ShouldContain("3 values; this index's bundle takes feature vectors of width");
        Avg.Silo.Http.ServiceFailure.Classify(new AvgException("the model host is not ready")).Status.ShouldBe(503);
    }

    [Theory]
    [InlineData("empty id", "images[0].id")]
    [InlineData("id of 257 characters", "images[0].id")]
    [InlineData("id with a slash", "images[0].id")]
    [InlineData("id with a control character", "images[0].id")]
    [InlineData("id with an unpaired surrogate", "images[0].id")]
    [InlineData("duplicate id", "images[1].id")]
    [InlineData("uri of 2049 characters", "images[0].uri")]
    [InlineData("neither features nor pixels", "images[0]")]
    [InlineData("both features and pixels", "images[0]")]
    [InlineData("a NaN feature", "images[0].features")]
    [InlineData("pixels of the wrong size", "images[0].pixels")]
    [InlineData("an image file that is not an image", "images[1].image")]
    [InlineData("an empty image file", "images[0].image")]
    [InlineData("an image file and features", "images[0]")]
    [InlineData("1001 images", "images")]
    public async Task A_shard_caller_breaking_an_ingest_rule_is_refused_naming_the_field_and_nothing_is_indexed(string breach, string field)
    {
        var grains = fixture.Silo.App.Services.GetRequiredService<IGrainFactory>();
        var info = await grains.GetGrain<IQueryGrain>(0).GetBundleInfo();
        float[] Features() => Enumerable.Repeat(0.5f, info.FeatureWidth).ToArray();
        IngestItem Good(string id) => new() { Id = id, Features = Features() };
        IngestItem[] batch = breach switch
        {
            "empty id" => [Good("")],
            "id of 257 characters" => [Good(new string('i', 257))],
            "id with a slash" => [Good("a/b")],
            "id with a control character" => [Good("a\u0001b")],
            "id with an unpaired surrogate" => [Good("a\ud800b")],
            "duplicate id" => [Good("grain-dup"), Good("grain-dup")],
            "uri of 2049 characters" => [new IngestItem { Id = "grain-uri", Features = Features(), Uri = new string('u', 2049) }],
            "neither features nor pixels" => [new IngestItem { Id = "grain-none" }],
            "both features and pixels" => [new IngestItem { Id = "grain-both", Features = Features(), Pixels = new byte[3 * info.ImageSize * info.ImageSize] }],
            "a NaN feature" => [new IngestItem { Id = "grain-nan", Features = [float.NaN, .. Features()[1..]] }],
            "pixels of the wrong size" => [new IngestItem { Id = "grain-pixels", Pixels = new byte[7] }],
            "an image file that is not an image" => [Good("grain-fine"), new IngestItem { Id = "grain-junk", Image = "not an image"u8.ToArray() }],
            "an empty image file" => [new IngestItem { Id = "grain-empty", Image = [] }],
            "an image file and features" => [new IngestItem { Id = "grain-file-and-features", Features = Features(), Image = [1, 2, 3] }],
            "1001 images" => Enumerable.Range(0, 1001).Select(i => Good("grain-many-" + i)).ToArray(),
            _ => throw new ArgumentOutOfRangeException(nameof(breach)),
        };
        var before = await grains.GetGrain<IIndexCatalogGrain>(info.IndexVersion).GetSnapshot();

        var refused = await Should.ThrowAsync<InvalidRequestException>(() => grains.GetGrain<ITokenizationShardGrain>(0).Ingest(batch));

        refused.Errors.Keys.ShouldContain(field);
        Avg.Silo.Http.ServiceFailure.Classify(refused).Status.ShouldBe(400);
        (await grains.GetGrain<IIndexCatalogGrain>(info.IndexVersion).GetSnapshot()).Version.ShouldBe(before.Version);
    }

    [Fact]
    public async Task Tokenize_writes_nothing_and_Write_refuses_identifiers_outside_the_bundles_shape()
    {
        var grains = fixture.Silo.App.Services.GetRequiredService<IGrainFactory>();
        var info = await grains.GetGrain<IQueryGrain>(0).GetBundleInfo();
        var catalog = grains.GetGrain<IIndexCatalogGrain>(info.IndexVersion);
        var shard = grains.GetGrain<ITokenizationShardGrain>(0);
        var before = await catalog.GetSnapshot();

        var batch = await shard.Tokenize([new IngestItem { Id = "two-step", Features = Enumerable.Repeat(0.25f, info.FeatureWidth).ToArray() }]);

        batch.Refused.ShouldBeFalse();
        var image = batch.Images.ShouldHaveSingleItem();
        image.Vokens.Length.ShouldBe(info.Levels);
        (await catalog.GetSnapshot()).Version.ShouldBe(before.Version, "Tokenize writes nothing");

        var outOfRange = new IndexedImage { Id = "two-step-bad", Vokens = [.. image.Vokens[..^1], info.CodebookSize], Fine = image.Fine };
        var shortFine = new IndexedImage { Id = "two-step-fine", Vokens = image.Vokens, Fine = [.. image.Fine, 0] };
        var refused = await Should.ThrowAsync<InvalidRequestException>(() => shard.Write([outOfRange, shortFine]));
        refused.Errors.Keys.ShouldBe(["images[0].vokens", "images[1].fine"], ignoreOrder: true);
        (await catalog.GetSnapshot()).Version.ShouldBe(before.Version);

        await shard.Write(batch.Images);
        (await catalog.GetSnapshot()).Version.ShouldBeGreaterThan(before.Version);
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
