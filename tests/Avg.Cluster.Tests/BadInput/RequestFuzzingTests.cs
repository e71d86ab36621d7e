using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Avg.Tests.Support;
using FsCheck;
using FsCheck.Xunit;
using Xunit.Abstractions;

namespace Avg.Cluster.Tests.BadInput;

/// <summary>
/// Property-based fuzzing (FsCheck) of the search and ingest bodies against a real silo: a mutated valid body never
/// gets a 5xx; when it is no longer a valid request (by <see cref="RequestOracle"/>) it gets a 4xx problem+json, and
/// when it still is, a 200.
/// </summary>
[Collection(BadInputSilo.Name)]
[Trait(TestCategory.Name, TestCategory.Integration)]
public class RequestFuzzingTests(BadInputSiloFixture fixture, ITestOutputHelper output)
{
    public const int CasesPerProperty = 300;

    private static string? ServedVersion;

    [Property(MaxTest = CasesPerProperty, Arbitrary = [typeof(RequestMutations)])]
    public async Task Mutated_search_bodies_never_get_a_5xx_and_invalid_ones_get_a_problem(BodyMutation mutation)
    {
        var body = RequestMutations.Apply(RequestMutations.SearchBodies[mutation.Base % RequestMutations.SearchBodies.Length], mutation);
        await Check("/v1/search", body, RequestOracle.Search(body, await ServedVersionAsync()), mutation);
    }

    [Property(MaxTest = CasesPerProperty, Arbitrary = [typeof(RequestMutations)])]
    public async Task Mutated_ingest_bodies_never_get_a_5xx_and_invalid_ones_get_a_problem(BodyMutation mutation)
    {
        var body = RequestMutations.Apply(RequestMutations.IngestBodies[mutation.Base % RequestMutations.IngestBodies.Length], mutation);
        await Check("/v1/images", body, RequestOracle.Ingest(body, await ServedVersionAsync(), BadInputSiloFixture.FeatureWidth), mutation);
    }

    private async Task Check(string path, byte[] body, Verdict verdict, BodyMutation mutation)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await fixture.Http.PostAsync(new Uri(path, UriKind.Relative), content);
        var text = await response.Content.ReadAsStringAsync();
        var status = (int)response.StatusCode;
        var sent = System.Text.Encoding.UTF8.GetString(body);
        var shown = $"{mutation} → {sent[..Math.Min(sent.Length, 300)]} → {status} {text[..Math.Min(text.Length, 300)]}";
        FuzzCount.Add(path);
        status.ShouldBeLessThan(500, shown);
        if (status >= 400)
        {
            response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json", shown);
            var problem = JsonNode.Parse(text)!;
            ((int)problem["status"]!).ShouldBe(status, shown);
            ((string?)problem["title"]).ShouldNotBeNullOrEmpty(shown);
        }

        switch (verdict)
        {
            case Verdict.Invalid:
                status.ShouldBeInRange(400, 499, shown);
                break;
            case Verdict.Valid:
                response.StatusCode.ShouldBe(HttpStatusCode.OK, shown);
                break;
        }
    }

    private async Task<string> ServedVersionAsync() =>
        ServedVersion ??= (string)JsonNode.Parse(await fixture.Http.GetStringAsync(new Uri("/v1/stats", UriKind.Relative)))!["indexVersion"]!;

    /// <summary>Reports how many fuzz cases ran; the last test of the class to touch it prints the totals.</summary>
    [Fact]
    public void Fuzz_case_count_is_reported() => output.WriteLine($"fuzz cases so far: {FuzzCount.Summary()}");
}

/// <summary>Fuzz cases sent, per endpoint, across the properties of one test run.</summary>
internal static class FuzzCount
{
    private static readonly Dictionary<string, int> Sent = new(StringComparer.Ordinal);

    public static void Add(string path)
    {
        lock (Sent)
        {
            Sent[path] = Sent.GetValueOrDefault(path) + 1;
        }
    }

    public static string Summary()
    {
        lock (Sent)
        {
            return string.Join(", ", Sent.Select(p => $"{p.Key} {p.Value}")) + $" (total {Sent.Values.Sum()})";
        }
    }
}
