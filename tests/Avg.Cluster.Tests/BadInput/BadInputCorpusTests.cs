using System.Net;
using System.Text.Json.Nodes;
using Avg.Tests.Support;
using Xunit.Abstractions;

namespace Avg.Cluster.Tests.BadInput;

/// <summary>
/// Every case of <c>BadInput/cases.json</c> against a real silo: a 4xx <c>application/problem+json</c> that names the
/// field (or the reason), the index unchanged (image count after each case; count and a search's results after all)
/// and the silo still ready.
/// </summary>
[Collection(BadInputSilo.Name)]
[Trait(TestCategory.Name, TestCategory.Integration)]
public class BadInputCorpusTests(BadInputSiloFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public void The_corpus_covers_every_endpoint_with_at_least_60_cases()
    {
        var corpus = BadInputCorpus.Load();
        corpus.Cases.Count.ShouldBeGreaterThanOrEqualTo(60);
        corpus.Cases.Select(c => c.Name).ShouldBeUnique();
        corpus.Cases.ShouldAllBe(c => c.Status >= 400 && c.Status < 500 && (c.Field != null || c.Reason != null || c.RejectedBy == "kestrel"));
        foreach (var endpoint in new[] { "/v1/search", "/v1/images", "/v1/images/", "/neighbours", "/v1/stats", "/images/" })
        {
            corpus.Cases.ShouldContain(c => c.Path.Contains(endpoint, StringComparison.Ordinal), endpoint);
        }
    }

    [Fact]
    public async Task Every_bad_input_gets_a_4xx_problem_naming_the_field_and_changes_nothing()
    {
        var corpus = BadInputCorpus.Load();
        var requests = new BadInputRequests(fixture.Png, fixture.KnownId, BadInputSiloFixture.Key);
        using var bare = new HttpClient { BaseAddress = fixture.Http.BaseAddress };
        var before = await fixture.SnapshotAsync();
        var failures = new List<string>();
        foreach (var c in corpus.Cases)
        {
            using var request = requests.Build(c);
            string? problem;
            try
            {
                using var response = await bare.SendAsync(request);
                problem = await Check(c, response);
            }
            catch (HttpRequestException e)
            {
                problem = $"no response: {e.Message} {e.InnerException?.Message}";
            }

            if (problem is not null)
            {
                failures.Add($"{c.Name}: {problem}");
            }

            var images = await fixture.ImageCountAsync();
            if (images != before.Images)
            {
                failures.Add($"{c.Name}: the index now holds {images} images, not {before.Images}");
                before = (images, before.Search);
            }
        }

        output.WriteLine($"{corpus.Cases.Count} bad-input cases ({corpus.Cases.Count(c => c.RejectedBy == "kestrel")} refused by Kestrel itself), {failures.Count} failures");
        failures.ShouldBeEmpty(string.Join("\n", failures));
        var after = await fixture.SnapshotAsync();
        after.ShouldBe(before, "bad input changed the index");
        foreach (var id in corpus.AbsentIds)
        {
            (await fixture.Http.GetAsync(new Uri("/v1/images/" + id, UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.NotFound, id);
        }

        (await fixture.IsReadyAsync()).ShouldBeTrue();
    }

    /// <summary>Null when the response is what the case expects, else what is wrong with it.</summary>
    private static async Task<string?> Check(BadInputCase c, HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        var shown = text.Length > 300 ? text[..300] + "…" : text;
        if ((int)response.StatusCode != c.Status)
        {
            return $"status {(int)response.StatusCode}, expected {c.Status}: {shown}";
        }

        if (c.RejectedBy == "kestrel")
        {
            return null;
        }

        if (response.Content.Headers.ContentType?.MediaType != "application/problem+json")
        {
            return $"content type '{response.Content.Headers.ContentType}', expected application/problem+json: {shown}";
        }

        JsonNode? problem;
        try
        {
            problem = JsonNode.Parse(text);
        }
        catch (System.Text.Json.JsonException e)
        {
            return $"the problem is not JSON ({e.Message}): {shown}";
        }

        if (problem?["status"]?.GetValue<int>() != c.Status || string.IsNullOrEmpty((string?)problem["title"]))
        {
            return $"the problem lacks status {c.Status} or a title: {shown}";
        }

        if (c.Field is { } field && problem["errors"]?.AsObject().Any(e => e.Key == field) != true)
        {
            return $"the problem does not name field '{field}': {shown}";
        }

        if (c.Reason is { } reason && !text.Contains(reason, StringComparison.OrdinalIgnoreCase))
        {
            return $"the problem does not say '{reason}': {shown}";
        }

        return null;
    }
}
