using System.Diagnostics;
using System.Net.Http;
using Avg.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace Avg.Client.Tests;

/// <summary>Retries, Retry-After, timeouts, cancellation, API keys and problem details, over real HTTP.</summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public sealed class RetryAndErrorTests : IAsyncLifetime
{
    private FakeAvgServer _server = null!;

    public async Task InitializeAsync() => _server = await FakeAvgServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static AvgSearchClientOptions Fast(int maxRetries = 3, TimeSpan? timeout = null)
    {
        var options = new AvgSearchClientOptions { Timeout = timeout ?? TimeSpan.FromSeconds(30) };
        options.Retry.MaxRetries = maxRetries;
        options.Retry.Delay = TimeSpan.FromMilliseconds(10);
        options.Retry.Mode = AvgRetryMode.Fixed;
        return options;
    }

    [Fact]
    public async Task Validation_problem_becomes_an_error_with_title_detail_and_field_errors_and_is_not_retried()
    {
        var client = new AvgSearchClient(_server.Endpoint, Fast());

        var error = await Should.ThrowAsync<AvgRequestException>(() => client.SearchAsync("circle", k: 0, beam: 500));

        error.Status.ShouldBe(400);
        error.Title.ShouldBe("One or more validation errors occurred.");
        error.ProblemType.ShouldBe("https://tools.ietf.org/html/rfc9110#status-400");
        error.Errors.Keys.Order().ShouldBe(["beam", "k"]);
        error.Errors["k"].ShouldBe(["must be between 1 and 100, got 0"]);
        error.Message.ShouldBe("POST /v1/search failed with 400 (One or more validation errors occurred.): k: must be between 1 and 100, got 0; beam: must be between 1 and 100, got 500");
        _server.RequestsTo("POST", "/v1/search").Count.ShouldBe(1);
    }

    [Fact]
    public async Task Ingest_problem_names_the_bad_image()
    {
        var client = new AvgSearchClient(_server.Endpoint, Fast());
        var error = await Should.ThrowAsync<AvgRequestException>(() => client.IndexImagesAsync(
            [ImageToIndex.FromFeatures("1", new[] { 1f }), ImageToIndex.FromFeatures("1", new[] { 2f })]));
        error.Status.ShouldBe(400);
        error.Errors["images[1].id"].ShouldBe(["duplicate id '1' in this batch"]);
    }

    [Fact]
    public async Task A_message_names_the_first_three_field_errors_and_the_exception_carries_them_all()
    {
        _server.EnqueueProblem(400, "The ingest batch is not valid; nothing was indexed", errors: Enumerable.Range(0, 5)
            .ToDictionary(i => $"images[{i}].features", _ => new[] { "5 values; the bundle takes 32." }));
        var error = await Should.ThrowAsync<AvgRequestException>(() => new AvgSearchClient(_server.Endpoint, Fast()).IndexImagesAsync([ImageToIndex.FromFeatures("1", new[] { 1f })]));

        error.Errors.Count.ShouldBe(5);
        error.Message.ShouldBe("POST /v1/images failed with 400 (The ingest batch is not valid; nothing was indexed): " +
            "images[0].features: 5 values; the bundle takes 32; images[1].features: 5 values; the bundle takes 32; " +
            "images[2].features: 5 values; the bundle takes 32 (and 2 more)");
    }

    [Fact]
    public async Task A_failed_ingest_is_sent_again_whole_and_when_it_still_fails_says_the_batch_may_be_partly_indexed()
    {
        _server.EnqueueProblem(503, "The index storage is unavailable; retry", "Redis is unreachable", retryAfter: "0", times: 1);
        var client = new AvgSearchClient(_server.Endpoint, Fast(maxRetries: 2));
        var batch = new[] { ImageToIndex.FromFeatures("1", new[] { 1f }), ImageToIndex.FromFeatures("2", new[] { 2f }) };

        (await client.IndexImagesAsync(batch)).Indexed.Select(i => i.Id).ShouldBe(["1", "2"]);
        var attempts = _server.RequestsTo("POST", "/v1/images");
        attempts.Count.ShouldBe(2);
        attempts[1].Body.ShouldBe(attempts[0].Body, "the whole batch, unchanged");

        _server.EnqueueProblem(503, "The index storage is unavailable; retry", "Redis is unreachable", retryAfter: "0", times: 3);
        var error = await Should.ThrowAsync<AvgRequestException>(() => client.IndexImagesAsync(batch));
        error.Status.ShouldBe(503);
        error.Detail.ShouldBe("Redis is unreachable");
        error.Message.ShouldContain("(gave up after 3 attempts)");
        error.Message.ShouldEndWith("The batch may be partly indexed; send it again to complete it (ingest replaces images by id, so a repeat is safe).");

        _server.EnqueueProblem(400, "The ingest batch is not valid; nothing was indexed");
        (await Should.ThrowAsync<AvgRequestException>(() => client.IndexImagesAsync(batch))).Message.ShouldNotContain("partly indexed", Case.Insensitive, "a refused batch indexed nothing");
    }

    [Fact]
    public async Task Unavailable_twice_then_ok_succeeds_on_the_third_attempt()
    {
        _server.EnqueueProblem(503, "Service Unavailable", "the silo is starting", times: 2);
        var client = new AvgSearchClient(_server.Endpoint, Fast(maxRetries: 3));

        var results = await client.SearchAsync("circle");

        results.Results.ShouldNotBeEmpty();
        _server.RequestsTo("POST", "/v1/search").Count.ShouldBe(3);
    }

    [Theory]
    [InlineData(408)]
    [InlineData(429)]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(504)]
    public async Task Transient_statuses_are_retried(int status)
    {
        _server.EnqueueProblem(status, "transient");
        var result = await new AvgSearchClient(_server.Endpoint, Fast()).IndexImagesAsync([ImageToIndex.FromFeatures("1", new[] { 1f })]);
        result.Indexed.ShouldHaveSingleItem();
        _server.RequestsTo("POST", "/v1/images").Count.ShouldBe(2);
    }

    [Theory]
    [InlineData(400)]
    [InlineData(401)]
    [InlineData(403)]
    [InlineData(409)]
    [InlineData(501)]
    public async Task Other_refusals_are_not_retried(int status)
    {
        _server.EnqueueProblem(status, "final", times: 5);
        var error = await Should.ThrowAsync<AvgRequestException>(() => new AvgSearchClient(_server.Endpoint, Fast()).GetStatsAsync());
        error.Status.ShouldBe(status);
        _server.RequestsTo("GET", "/v1/stats").Count.ShouldBe(1);
    }

    [Fact]
    public async Task Retries_stop_after_the_configured_number_and_the_last_problem_is_reported()
    {
        _server.EnqueueProblem(503, "Service Unavailable", "no model silo is active", times: 10);
        var client = new AvgSearchClient(_server.Endpoint, Fast(maxRetries: 2));

        var error = await Should.ThrowAsync<AvgRequestException>(() => client.SearchAsync("circle"));

        _server.RequestsTo("POST", "/v1/search").Count.ShouldBe(3);
        error.Status.ShouldBe(503);
        error.Detail.ShouldBe("no model silo is active");
        error.Message.ShouldEndWith("(gave up after 3 attempts)");
    }

    [Fact]
    public async Task No_retries_when_turned_off()
    {
        _server.EnqueueProblem(503, "Service Unavailable", times: 3);
        await Should.ThrowAsync<AvgRequestException>(() => new AvgSearchClient(_server.Endpoint, Fast(maxRetries: 0)).SearchAsync("circle"));
        _server.Requests.Count.ShouldBe(1);
    }

    [Fact]
    public async Task Retry_after_is_honoured_instead_of_the_configured_delay()
    {
        _server.EnqueueProblem(429, "Too Many Requests", retryAfter: "1");
        await new AvgSearchClient(_server.Endpoint, Fast()).SearchAsync("circle");

        var attempts = _server.RequestsTo("POST", "/v1/search");
        attempts.Count.ShouldBe(2);
        (attempts[1].At - attempts[0].At).ShouldBeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(950));
    }

    [Fact]
    public async Task Exponential_backoff_grows_between_attempts()
    {
        _server.EnqueueProblem(503, "Service Unavailable", times: 3);
        var options = Fast();
        options.Retry.Mode = AvgRetryMode.Exponential;
        options.Retry.Delay = TimeSpan.FromMilliseconds(100);
        await new AvgSearchClient(_server.Endpoint, options).SearchAsync("circle");

        var at = _server.RequestsTo("POST", "/v1/search").Select(r => r.At).ToList();
        at.Count.ShouldBe(4);
        // Nominal 100, 200, 400 ms with ±20% jitter.
        (at[1] - at[0]).ShouldBeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(75));
        (at[2] - at[1]).ShouldBeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(155));
        (at[3] - at[2]).ShouldBeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(315));
    }

    [Fact]
    public async Task Unreachable_endpoint_is_retried_then_reported_with_status_zero()
    {
        var endpoint = ClosedPort.Endpoint();
        var error = await Should.ThrowAsync<AvgRequestException>(() => new AvgSearchClient(endpoint, Fast(maxRetries: 2)).SearchAsync("circle"));

        error.Status.ShouldBe(0);
        error.InnerException.ShouldBeOfType<HttpRequestException>();
        error.Message.ShouldStartWith($"cannot reach {endpoint} (POST /v1/search): ");
        error.Message.ShouldEndWith("(gave up after 3 attempts)");
    }

    [Fact]
    public async Task A_slow_answer_times_out_each_attempt_and_is_retried()
    {
        _server.EnqueueDelay(TimeSpan.FromSeconds(30), times: 2);
        using var handler = new CountingHandler();
        using var http = new HttpClient(handler);
        var client = new AvgSearchClient(_server.Endpoint, http, Fast(maxRetries: 1, timeout: TimeSpan.FromSeconds(1)));
        var clock = Stopwatch.StartNew();

        var error = await Should.ThrowAsync<AvgRequestException>(() => client.SearchAsync("circle"));

        clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(10));
        error.Status.ShouldBe(0);
        error.InnerException.ShouldBeOfType<TimeoutException>();
        error.Message.ShouldContain("timed out after 1 s (gave up after 2 attempts)");
        handler.Attempts.ShouldBe(2);
    }

    [Fact]
    public async Task A_slow_first_attempt_is_followed_by_a_good_second()
    {
        _server.EnqueueDelay(TimeSpan.FromSeconds(30));
        using var handler = new CountingHandler();
        using var http = new HttpClient(handler);
        var client = new AvgSearchClient(_server.Endpoint, http, Fast(maxRetries: 1, timeout: TimeSpan.FromSeconds(1)));
        (await client.SearchAsync("circle")).Results.ShouldNotBeEmpty();
        handler.Attempts.ShouldBe(2);
    }

    [Fact]
    public async Task Cancelling_during_a_slow_request_stops_at_once_without_retrying()
    {
        _server.EnqueueDelay(TimeSpan.FromSeconds(30), times: 5);
        var client = new AvgSearchClient(_server.Endpoint, Fast(maxRetries: 3));
        using var cancellation = new CancellationTokenSource();
        var search = client.SearchAsync("circle", cancellationToken: cancellation.Token);
        await _server.WaitForRequestsAsync(1);
        var clock = Stopwatch.StartNew();

        await cancellation.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(() => search);

        clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(2));
        await Task.Delay(200);
        _server.RequestsTo("POST", "/v1/search").Count.ShouldBe(1);
    }

    [Fact]
    public async Task Cancelling_during_a_retry_wait_stops_at_once()
    {
        _server.EnqueueProblem(503, "Service Unavailable", retryAfter: "60");
        var client = new AvgSearchClient(_server.Endpoint, Fast());
        using var cancellation = new CancellationTokenSource();
        var index = client.IndexImagesAsync([ImageToIndex.FromFeatures("1", new[] { 1f })], cancellationToken: cancellation.Token);
        await _server.WaitForRequestsAsync(1);
        await Task.Delay(200); // the 503 is answered; the client now waits out Retry-After
        var clock = Stopwatch.StartNew();

        await cancellation.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(() => index);

        clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(2));
        _server.Requests.Count.ShouldBe(1);
    }

    [Fact]
    public async Task A_non_problem_error_body_still_gives_the_status()
    {
        _server.Enqueue(ctx =>
        {
            ctx.Response.StatusCode = 502;
            ctx.Response.ContentType = "text/html";
            return ctx.Response.WriteAsync("<html>bad gateway</html>");
        });
        var error = await Should.ThrowAsync<AvgRequestException>(() => new AvgSearchClient(_server.Endpoint, Fast(maxRetries: 0)).GetStatsAsync());
        error.Status.ShouldBe(502);
        error.Title.ShouldBeNull();
        error.Errors.ShouldBeEmpty();
        error.Message.ShouldBe("GET /v1/stats failed with 502 (Bad Gateway)");
    }

    [Fact]
    public async Task A_success_that_breaks_the_contract_is_reported_not_thrown_as_json_noise()
    {
        _server.Enqueue(ctx => FakeAvgServer.WriteJson(ctx, 200, new System.Text.Json.Nodes.JsonArray(1, 2)));
        var error = await Should.ThrowAsync<AvgRequestException>(() => new AvgSearchClient(_server.Endpoint, Fast()).SearchAsync("circle"));
        error.Message.ShouldStartWith("POST /v1/search answered 200 with JSON that does not match the API contract");
    }
}

/// <summary>The <c>X-Api-Key</c> header against a server that requires one.</summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public sealed class ApiKeyTests : IAsyncLifetime
{
    private FakeAvgServer _server = null!;

    public async Task InitializeAsync() => _server = await FakeAvgServer.StartAsync(apiKey: "s3cret");

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task The_configured_key_is_sent_on_api_calls_and_the_server_accepts_it()
    {
        var client = new AvgSearchClient(_server.Endpoint, new AvgSearchClientOptions { ApiKey = "s3cret" });
        (await client.SearchAsync("circle")).Results.ShouldNotBeEmpty();
        (await client.IsReadyAsync()).ShouldBeTrue();

        _server.RequestsTo("POST", "/v1/search").ShouldHaveSingleItem().ApiKey.ShouldBe("s3cret");
        _server.RequestsTo("GET", "/health/ready").ShouldHaveSingleItem().ApiKey.ShouldBeNull();
    }

    [Theory]
    [InlineData(null)]
    [InlineData("wrong")]
    public async Task A_missing_or_wrong_key_is_a_401_error_without_retries(string? key)
    {
        var client = new AvgSearchClient(_server.Endpoint, new AvgSearchClientOptions { ApiKey = key });
        var error = await Should.ThrowAsync<AvgRequestException>(() => client.SearchAsync("circle"));
        error.Status.ShouldBe(401);
        error.Detail.ShouldBe("missing or wrong X-Api-Key");
        _server.Requests.Count.ShouldBe(1);
    }
}
