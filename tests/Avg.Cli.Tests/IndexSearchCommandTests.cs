using System.Text.Json.Nodes;
using Avg.Data;
using Avg.Tests.Support;

namespace Avg.Cli.Tests;

/// <summary>`avg index` and `avg search` against a contract-speaking Kestrel server, over real HTTP.</summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public sealed class IndexSearchCommandTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _dir = new();
    private FakeAvgServer _server = null!;

    public async Task InitializeAsync() => _server = await FakeAvgServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose() => _dir.Dispose();

    private string Endpoint => _server.Endpoint.ToString();

    [Fact]
    public async Task Index_sends_the_split_in_batches_with_imgid_ids_and_file_name_uris_and_prints_progress_and_a_summary()
    {
        TinyDataset.Write(_dir.Path, images: 10); // train = 0 1 4 5 8 9

        var run = await CliRun.Of("index", "--endpoint", Endpoint, "--data", _dir.Path, "--split", "train", "--batch", "4");

        run.ExitCode.ShouldBe(0, run.Error);
        var batches = _server.RequestsTo("POST", "/v1/images").Select(r => r.Json["images"]!.AsArray()).OrderBy(b => b.Count == 4 ? 0 : 1).ToList();
        batches.Select(b => b.Select(i => (string)i!["id"]!).ToArray()).ShouldBe([["0", "1", "4", "5"], ["8", "9"]]);
        var first = batches[0][0]!;
        ((string)first["uri"]!).ShouldBe("images/000.png");
        Convert.FromBase64String((string)first["imageBase64"]!).ShouldBe(File.ReadAllBytes(Path.Combine(_dir.Path, "images", "000.png")));
        _server.Images.Keys.Order().ShouldBe(["0", "1", "4", "5", "8", "9"]);

        run.Error.ShouldMatch(@"^index (4/6 67|2/6 33)% \d+ images/s");
        run.Error.ShouldMatch(@"index 6/6 100% \d+ images/s elapsed 0m\d\ds eta 0m00s");
        run.Output.ShouldMatch(@"^indexed 6 images \(train split of tiny, image files\) in \d+\.\ds: \d+\.\d images/s, 2 batches, \d+ partition\(s\), index version v-test");
    }

    [Fact]
    public async Task Index_with_batches_in_parallel_sends_every_image_exactly_once()
    {
        TinyDataset.Write(_dir.Path, images: 10);

        var run = await CliRun.Of("index", "--endpoint", Endpoint, "--data", _dir.Path, "--split", "all", "--batch", "1", "--parallel", "4");

        run.ExitCode.ShouldBe(0, run.Error);
        var ids = _server.RequestsTo("POST", "/v1/images").Select(r => (string)r.Json["images"]![0]!["id"]!).ToList();
        ids.Order().ShouldBe(Enumerable.Range(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).Order());
        run.Output.ShouldContain("indexed 10 images (all split of tiny, image files)");
        run.Output.ShouldContain("10 batches");
    }

    [Fact]
    public async Task Index_with_features_sends_each_images_row_instead_of_its_file()
    {
        TinyDataset.Write(_dir.Path, images: 8); // test = 3 7
        var rows = Enumerable.Range(0, 8).SelectMany(i => new[] { i, i + 0.5f, -i }).ToArray();
        NpyMatrix.Write(_dir.File("img.npy"), rows, 8, 3);

        var run = await CliRun.Of("index", "--endpoint", Endpoint, "--data", _dir.Path, "--features", _dir.File("img.npy"));

        run.ExitCode.ShouldBe(0, run.Error);
        var sent = _server.RequestsTo("POST", "/v1/images").ShouldHaveSingleItem().Json["images"]!.AsArray();
        sent.Select(i => (string)i!["id"]!).ShouldBe(["3", "7"]);
        sent[1]!["features"]!.AsArray().Select(f => (float)f!).ShouldBe([7f, 7.5f, -7f]);
        sent[1]!.AsObject().ContainsKey("imageBase64").ShouldBeFalse();
        run.Output.ShouldContain("indexed 2 images (test split of tiny, features)");
    }

    [Fact]
    public async Task Index_retries_a_busy_server_and_still_sends_every_image_once_accepted()
    {
        TinyDataset.Write(_dir.Path, images: 8);
        _server.EnqueueProblem(503, "Service Unavailable", "the silo is starting", retryAfter: "0");

        var run = await CliRun.Of("index", "--endpoint", Endpoint, "--data", _dir.Path, "--split", "all", "--batch", "8");

        run.ExitCode.ShouldBe(0, run.Error);
        _server.RequestsTo("POST", "/v1/images").Count.ShouldBe(2);
        _server.Images.Count.ShouldBe(8);
    }

    [Fact]
    public async Task Index_refusal_by_the_server_is_one_error_line_naming_the_field()
    {
        TinyDataset.Write(_dir.Path, images: 4);
        _server.EnqueueProblem(400, "One or more validation errors occurred.", errors: new Dictionary<string, string[]>
        {
            ["images[0].imageBase64"] = ["not a decodable image"],
        });

        (await CliRun.Of("index", "--endpoint", Endpoint, "--data", _dir.Path))
            .ShouldBeUserError("POST /v1/images failed with 400 (One or more validation errors occurred.): images[0].imageBase64: not a decodable image");
    }

    [Fact]
    public async Task Index_of_a_file_that_is_not_png_or_jpeg_is_refused_before_sending()
    {
        TinyDataset.Write(_dir.Path, images: 4);
        File.WriteAllText(Path.Combine(_dir.Path, "images", "003.png"), "GIF89a");

        (await CliRun.Of("index", "--endpoint", Endpoint, "--data", _dir.Path)).ShouldBeUserError("003.png: is not a PNG or JPEG file");
        _server.Requests.ShouldBeEmpty();
    }

    [Fact]
    public async Task Index_with_a_missing_image_file_is_refused_before_sending()
    {
        TinyDataset.Write(_dir.Path, images: 8);
        File.Delete(Path.Combine(_dir.Path, "images", "007.png"));
        (await CliRun.Of("index", "--endpoint", Endpoint, "--data", _dir.Path)).ShouldBeUserError("image files missing: images/007.png");
        _server.Requests.ShouldBeEmpty();
    }

    [Fact]
    public async Task Index_reads_the_image_files_from_the_image_root_when_the_json_sits_apart()
    {
        // Flickr30K's layout: the split JSON in one folder, the images in another.
        var root = _dir.File("pictures");
        TinyDataset.Write(root, images: 8); // test = 3 7
        var apart = _dir.File("splits");
        Directory.CreateDirectory(apart);
        File.Move(Path.Combine(root, "dataset.json"), Path.Combine(apart, "dataset.json"));

        (await CliRun.Of("index", "--endpoint", Endpoint, "--data", apart))
            .ShouldBeUserError("image files missing: images/003.png, images/007.png (the JSON's file names are read relative to this folder; pass --image-root");
        _server.Requests.ShouldBeEmpty();

        var run = await CliRun.Of("index", "--endpoint", Endpoint, "--data", apart, "--image-root", root);

        run.ExitCode.ShouldBe(0, run.Error);
        var sent = _server.RequestsTo("POST", "/v1/images").ShouldHaveSingleItem().Json["images"]!.AsArray();
        sent.Select(i => (string)i!["id"]!).ShouldBe(["3", "7"]);
        ((string)sent[1]!["uri"]!).ShouldBe("images/007.png");
        Convert.FromBase64String((string)sent[1]!["imageBase64"]!).ShouldBe(File.ReadAllBytes(Path.Combine(root, "images", "007.png")));
    }

    [Fact]
    public async Task Index_with_feature_rows_not_matching_the_dataset_is_a_one_line_error()
    {
        TinyDataset.Write(_dir.Path, images: 4);
        NpyMatrix.Write(_dir.File("img.npy"), new float[9], 3, 3);
        (await CliRun.Of("index", "--endpoint", Endpoint, "--data", _dir.Path, "--features", _dir.File("img.npy")))
            .ShouldBeUserError("img.npy: has 3 rows, expected 4 (one per image in dataset.json)");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1001")]
    public async Task Index_batch_out_of_range_is_a_one_line_error(string batch)
    {
        TinyDataset.Write(_dir.Path, images: 4);
        (await CliRun.Of("index", "--endpoint", Endpoint, "--data", _dir.Path, "--batch", batch)).ShouldBeUserError($"--batch must be between 1 and 1000, got {batch}");
    }

    [Fact]
    public async Task Index_of_an_unknown_split_is_a_one_line_error()
    {
        TinyDataset.Write(_dir.Path, images: 4);
        (await CliRun.Of("index", "--endpoint", Endpoint, "--data", _dir.Path, "--split", "dev")).ShouldBeUserError("--split 'dev': expected test, val, train or all");
    }

    [Fact]
    public async Task Search_prints_a_ranked_table_with_timing()
    {
        var run = await CliRun.Of("search", "--endpoint", Endpoint, "a red circle", "--k", "3", "--beam", "25");

        run.ExitCode.ShouldBe(0, run.Error);
        var request = _server.RequestsTo("POST", "/v1/search").ShouldHaveSingleItem().Json;
        ((string)request["query"]!, (int)request["k"]!, (int)request["beam"]!).ShouldBe(("a red circle", 3, 25));
        var lines = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
        lines.ShouldBe(
        [
            "rank  image id    score  vokens    uri",
            "   1  42        -0.5000  3 17 5 9  images/042.png",
            "   2  7         -1.0000  3 17 5 2  -",
            "   3  3         -1.5000  8 1 1 4   images/003.png",
            "3 results in 4.1 ms (generator 3.2 ms, 6 grain calls), index version v-test",
        ]);
    }

    [Fact]
    public async Task Search_json_prints_the_contract_shape()
    {
        var run = await CliRun.Of("search", "--endpoint", Endpoint, "circle", "--k", "2", "--json");

        run.ExitCode.ShouldBe(0, run.Error);
        var json = JsonNode.Parse(run.Output)!;
        json["results"]!.AsArray().Count.ShouldBe(2);
        ((string)json["results"]![0]!["imageId"]!).ShouldBe("42");
        ((double)json["results"]![0]!["score"]!).ShouldBe(-0.5);
        json["results"]![0]!["vokens"]!.AsArray().Select(v => (int)v!).ShouldBe([3, 17, 5, 9]);
        ((string)json["indexVersion"]!).ShouldBe("v-test");
        ((int)json["timing"]!["fanOutCalls"]!).ShouldBe(6);
    }

    [Fact]
    public async Task Search_validation_problem_is_one_error_line()
    {
        (await CliRun.Of("search", "--endpoint", Endpoint, "circle", "--k", "0"))
            .ShouldBeUserError("POST /v1/search failed with 400 (One or more validation errors occurred.): k: must be between 1 and 100, got 0");
    }

    [Fact]
    public async Task Search_unreachable_endpoint_is_one_error_line()
    {
        var endpoint = ClosedPort.Endpoint();
        (await CliRun.Of("search", "--endpoint", endpoint.ToString(), "circle", "--retries", "1"))
            .ShouldBeUserError($"cannot reach {endpoint} (POST /v1/search)");
    }

    [Fact]
    public async Task Search_timeout_is_one_error_line_with_a_hint()
    {
        _server.EnqueueDelay(TimeSpan.FromSeconds(30));
        (await CliRun.Of("search", "--endpoint", Endpoint, "circle", "--retries", "0", "--timeout", "0.3"))
            .ShouldBeUserError("timed out after 0.3 s (raise --timeout if the cluster is busy)");
    }

    [Fact]
    public async Task Index_version_is_sent_and_a_conflict_is_one_error_line()
    {
        TinyDataset.Write(_dir.Path, images: 4);
        (await CliRun.Of("index", "--endpoint", Endpoint, "--data", _dir.Path, "--index-version", FakeAvgServer.IndexVersion)).ExitCode.ShouldBe(0);
        ((string)_server.RequestsTo("POST", "/v1/images").ShouldHaveSingleItem().Json["indexVersion"]!).ShouldBe(FakeAvgServer.IndexVersion);

        (await CliRun.Of("search", "--endpoint", Endpoint, "circle", "--index-version", "old"))
            .ShouldBeUserError("POST /v1/search failed with 409 (Index version conflict): index version 'old' is not served");
    }

    [Theory]
    [InlineData("localhost:8080")]
    [InlineData("ftp://example.org")]
    [InlineData("not a url")]
    public async Task Search_bad_endpoint_is_one_error_line(string endpoint)
    {
        (await CliRun.Of("search", "--endpoint", endpoint, "circle")).ShouldBeUserError($"--endpoint '{endpoint}' is not an http(s) URL; expected e.g. http://localhost:8080");
    }
}

/// <summary>The commands against a server that requires an API key.</summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public sealed class ClusterApiKeyCommandTests : IAsyncLifetime
{
    private FakeAvgServer _server = null!;

    public async Task InitializeAsync() => _server = await FakeAvgServer.StartAsync(apiKey: "s3cret");

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Search_without_the_key_says_how_to_pass_one()
    {
        (await CliRun.Of("search", "--endpoint", _server.Endpoint.ToString(), "circle"))
            .ShouldBeUserError("failed with 401 (Unauthorized): missing or wrong X-Api-Key (pass --api-key or set AVG_API_KEY)");
    }

    [Fact]
    public async Task Search_with_the_key_succeeds()
    {
        var run = await CliRun.Of("search", "--endpoint", _server.Endpoint.ToString(), "circle", "--api-key", "s3cret");
        run.ExitCode.ShouldBe(0, run.Error);
        _server.Requests.ShouldHaveSingleItem().ApiKey.ShouldBe("s3cret");
    }
}
