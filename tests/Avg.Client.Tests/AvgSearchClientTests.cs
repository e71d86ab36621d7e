using Avg.Tests.Support;

namespace Avg.Client.Tests;

/// <summary>Typed calls of every endpoint, over real HTTP to a contract-speaking Kestrel server.</summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public sealed class AvgSearchClientTests : IAsyncLifetime
{
    private FakeAvgServer _server = null!;

    public async Task InitializeAsync() => _server = await FakeAvgServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private AvgSearchClient Client() => new(_server.Endpoint);

    [Fact]
    public async Task Search_sends_the_contract_body_and_parses_ranked_results()
    {
        var results = await Client().SearchAsync("a red circle", k: 2, beam: 30);

        var request = _server.RequestsTo("POST", "/v1/search").ShouldHaveSingleItem();
        request.ContentType.ShouldBe("application/json; charset=utf-8");
        request.Json["query"]!.GetValue<string>().ShouldBe("a red circle");
        request.Json["k"]!.GetValue<int>().ShouldBe(2);
        request.Json["beam"]!.GetValue<int>().ShouldBe(30);
        request.Json.AsObject().ContainsKey("levelBeams").ShouldBeFalse("no widths per level unless asked for");
        request.UserAgent.ShouldNotBeNull().ShouldStartWith("avg-client/");

        results.IndexVersion.ShouldBe(FakeAvgServer.IndexVersion);
        results.Results.Count.ShouldBe(2);
        results.Results[0].ShouldSatisfyAllConditions(
            r => r.ImageId.ShouldBe("42"),
            r => r.Score.ShouldBe(-0.5),
            r => r.Vokens.ShouldBe([3, 17, 5, 9]),
            r => r.Uri.ShouldBe("images/042.png"));
        results.Results[1].Uri.ShouldBeNull();
        results.Timing.ShouldBe(new SearchTiming(4.1, 3.2, 6));
    }

    [Fact]
    public async Task Search_with_a_pinned_index_version_sends_it_and_a_conflict_is_a_409_error()
    {
        var client = Client();
        (await client.SearchAsync(new SearchQuery("circle", IndexVersion: FakeAvgServer.IndexVersion))).Results.ShouldNotBeEmpty();

        var error = await Should.ThrowAsync<AvgRequestException>(() => client.SearchAsync(new SearchQuery("circle", IndexVersion: "old")));
        error.Status.ShouldBe(409);
        error.Detail.ShouldNotBeNull().ShouldContain("'old' is not served");
        _server.RequestsTo("POST", "/v1/search")[^1].Json["indexVersion"]!.GetValue<string>().ShouldBe("old");
    }

    [Fact]
    public async Task Search_with_level_beams_sends_one_width_per_level()
    {
        (await Client().SearchAsync(new SearchQuery("circle", LevelBeams: [20, 40, 20, 10]))).Results.ShouldNotBeEmpty();

        var sent = _server.RequestsTo("POST", "/v1/search").ShouldHaveSingleItem().Json;
        sent["levelBeams"]!.AsArray().Select(w => w!.GetValue<int>()).ShouldBe([20, 40, 20, 10]);
    }

    [Fact]
    public async Task Index_sends_base64_images_and_features_and_the_images_can_be_read_back()
    {
        var client = Client();
        byte[] png = [0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3];
        var result = await client.IndexImagesAsync(
        [
            ImageToIndex.FromImage("1", png, uri: "images/001.png"),
            ImageToIndex.FromFeatures("2", new float[] { 0.25f, -1.5f, 3f }),
        ]);

        var sent = _server.RequestsTo("POST", "/v1/images").ShouldHaveSingleItem().Json["images"]!.AsArray();
        sent[0]!["imageBase64"]!.GetValue<string>().ShouldBe(Convert.ToBase64String(png));
        sent[0]!["uri"]!.GetValue<string>().ShouldBe("images/001.png");
        sent[0]!.AsObject().ContainsKey("features").ShouldBeFalse();
        sent[1]!["features"]!.AsArray().Select(f => f!.GetValue<float>()).ShouldBe([0.25f, -1.5f, 3f]);
        sent[1]!.AsObject().ContainsKey("imageBase64").ShouldBeFalse();
        _server.Images["1"].Image.ShouldBe(png);

        result.IndexVersion.ShouldBe(FakeAvgServer.IndexVersion);
        result.ElapsedMs.ShouldBe(12.5);
        result.Indexed.Select(i => i.Id).ShouldBe(["1", "2"]);
        result.Indexed[0].Vokens.ShouldBe(_server.Images["1"].Vokens);
        result.Indexed[0].Partition.ShouldBe(_server.Images["1"].Vokens[0]);

        var stored = (await client.GetImageAsync("1")).ShouldNotBeNull();
        stored.Uri.ShouldBe("images/001.png");
        stored.Vokens.ShouldBe(result.Indexed[0].Vokens);
    }

    [Fact]
    public async Task Get_of_an_unknown_id_is_null_and_delete_says_whether_it_removed_anything()
    {
        var client = Client();
        await client.IndexImagesAsync([ImageToIndex.FromFeatures("a b", new float[] { 1f })]);

        (await client.GetImageAsync("a b")).ShouldNotBeNull().Id.ShouldBe("a b");
        _server.Requests.Last().Path.ShouldBe("/v1/images/a b");
        (await client.DeleteImageAsync("a b")).ShouldBeTrue();
        (await client.DeleteImageAsync("a b")).ShouldBeFalse();
        (await client.GetImageAsync("a b")).ShouldBeNull();
    }

    [Fact]
    public async Task Stats_parse_every_section()
    {
        await Client().IndexImagesAsync([ImageToIndex.FromFeatures("1", new float[] { 1f })]);

        var stats = await Client().GetStatsAsync();

        stats.Images.ShouldBe(1);
        stats.Partitions.ShouldBe(1);
        stats.IndexVersion.ShouldBe(FakeAvgServer.IndexVersion);
        var shard = stats.Shards.ShouldNotBeNull().ShouldHaveSingleItem();
        (shard.Shard, shard.Images, shard.ImagesPerSecond, shard.RecentImagesPerSecond).ShouldBe((0, 1L, 812.0, 40.5));
        shard.History.ShouldBe([0, 38.2, 40.5]);
        stats.PartitionLoad.ShouldNotBeNull().ShouldHaveSingleItem().ShouldBe(new PartitionLoad(3, 17, 40));
        stats.Queries.ShouldBe(new QueryStats(200, 4.0, 9.5, 31.0));
        var silo = stats.Silos.ShouldNotBeNull().ShouldHaveSingleItem();
        silo.Address.ShouldBe("10.0.0.5:11111");
        silo.Roles.ShouldBe(["model", "partitions"]);
        (silo.Model, silo.Gpu, silo.Status).ShouldBe((true, false, "Active"));
    }

    [Fact]
    public async Task Ready_follows_the_health_endpoint_and_is_false_when_nothing_listens()
    {
        (await Client().IsReadyAsync()).ShouldBeTrue();
        _server.Ready = false;
        (await Client().IsReadyAsync()).ShouldBeFalse();
        _server.RequestsTo("GET", "/health/ready").Count.ShouldBe(2); // a 503 here means "not yet": never retried

        (await new AvgSearchClient(ClosedPort.Endpoint()).IsReadyAsync()).ShouldBeFalse();
    }

    [Fact]
    public async Task Waiting_for_ready_returns_once_the_server_is_ready_and_times_out_when_nothing_listens()
    {
        _server.Ready = false;
        var flip = Task.Run(async () =>
        {
            await Task.Delay(300);
            _server.Ready = true;
        });
        await Client().WaitUntilReadyAsync(TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(50));
        await flip;
        _server.RequestsTo("GET", "/health/ready").Count.ShouldBeGreaterThan(1);

        var error = await Should.ThrowAsync<TimeoutException>(() =>
            new AvgSearchClient(ClosedPort.Endpoint()).WaitUntilReadyAsync(TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(50)));
        error.Message.ShouldContain("did not become ready within 1 s");
    }

    [Fact]
    public async Task Many_concurrent_calls_on_one_client_all_succeed()
    {
        var client = Client();
        var results = await Task.WhenAll(Enumerable.Range(0, 32).Select(i => client.SearchAsync($"query {i}", k: 1 + (i % 3))));
        results.Select(r => r.Results.Count).ShouldBe(Enumerable.Range(0, 32).Select(i => 1 + (i % 3)));
        _server.RequestsTo("POST", "/v1/search").Count.ShouldBe(32);
    }

    [Fact]
    public async Task Endpoint_with_a_path_keeps_the_path()
    {
        var client = new AvgSearchClient(new Uri(_server.Endpoint, "avg"));
        client.Endpoint.AbsolutePath.ShouldBe("/avg/");
        await Should.ThrowAsync<AvgRequestException>(() => client.GetStatsAsync());
        _server.Requests.Last().Path.ShouldBe("/avg/v1/stats");
    }

    [Fact]
    public void Arguments_the_request_could_not_carry_are_refused_before_sending()
    {
        Should.Throw<ArgumentException>(() => new AvgSearchClient(new Uri("ftp://example.org")));
        Should.Throw<ArgumentException>(() => new AvgSearchClient(new Uri("relative", UriKind.Relative)));
        Should.Throw<ArgumentException>(() => ImageToIndex.FromFeatures("1", new[] { 1f, float.NaN })).Message.ShouldContain("features[1]");
        Should.Throw<ArgumentException>(() => ImageToIndex.FromImage("", new byte[] { 1 }));
        var options = new AvgSearchClientOptions();
        options.Retry.MaxRetries = -1;
        Should.Throw<ArgumentOutOfRangeException>(() => new AvgSearchClient(_server.Endpoint, options));
    }

    [Fact]
    public async Task An_id_with_a_slash_is_refused_before_sending()
    {
        await Should.ThrowAsync<ArgumentException>(() => Client().GetImageAsync("a/b"));
        _server.Requests.ShouldBeEmpty();
    }

    [Fact]
    public async Task Callers_can_mock_the_client()
    {
        AvgSearchClient client = new CannedClient();
        (await client.SearchAsync("anything")).Results.ShouldHaveSingleItem().ImageId.ShouldBe("mock");
    }

    private sealed class CannedClient : AvgSearchClient
    {
        public override Task<SearchResults> SearchAsync(string query, int k = 10, int? beam = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(new SearchResults([new SearchResult("mock", -1, [1, 2], null)], "v", null));
    }
}
