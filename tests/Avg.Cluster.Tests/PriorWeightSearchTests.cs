using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Avg.Cluster.Tests.Support;
using Avg.Data;
using Avg.Models.Pipeline;
using Avg.Retrieval;

namespace Avg.Cluster.Tests;

public class PriorWeightSearchTests
{
    private const float ScoreTolerance = 1e-4f;

    /// <summary>
    /// A silo started with Avg__PriorWeight ranks over HTTP as the in-process search with that prior does, and not as
    /// the plain sum of log-probabilities.
    /// </summary>
    [Fact]
    public async Task A_silo_with_a_prior_weight_ranks_as_the_in_process_search_with_that_prior()
    {
        var bundle = TinyShapesBundle.Ensure();
        var dataset = TinyShapesBundle.Dataset();
        await using var silo = await EmbeddedSilo.StartAsync(bundle, priorWeight: 1);
        var test = dataset.Images.Where(i => i.Split == Split.Test).ToArray();
        var added = await silo.Http.PostAsJsonAsync("/v1/images", new
        {
            images = test.Select(i => new { id = i.Index.ToString(CultureInfo.InvariantCulture), imageBase64 = Convert.ToBase64String(File.ReadAllBytes(dataset.ImagePath(i))) }),
        });
        added.StatusCode.ShouldBe(HttpStatusCode.OK, await added.Content.ReadAsStringAsync());
        var entries = JsonNode.Parse(await added.Content.ReadAsStringAsync())!["indexed"]!.AsArray()
            .Select(e => (long.Parse((string)e!["id"]!, CultureInfo.InvariantCulture), e["vokens"]!.AsArray().Select(v => (int)v!).ToArray()))
            .ToList();
        var trie = VokenTrie.Build(entries, TinyShapesBundle.Training.Levels, TinyShapesBundle.Training.CodebookSize);

        using var model = AvgModel.Load(bundle, "cpu");
        using var withPrior = model.CreateSearcher(trie, new SearchOptions { K = 10, Beam = 8, Prior = model.VokenPrior(1) });
        using var plain = model.CreateSearcher(trie, new SearchOptions { K = 10, Beam = 8 });
        var differs = 0;
        foreach (var caption in test.Take(30).Select(i => i.Captions[0]))
        {
            var expected = withPrior.Search([caption])[0];
            var response = JsonNode.Parse(await (await silo.Http.PostAsJsonAsync("/v1/search", new { query = caption, k = 10, beam = 8 })).Content.ReadAsStringAsync())!;
            var actual = response["results"]!.AsArray();
            actual.Count.ShouldBe(expected.Count, caption);
            for (var r = 0; r < expected.Count; r++)
            {
                ((float)actual[r]!["score"]!).ShouldBe(expected[r].Score, ScoreTolerance, caption);
                var id = long.Parse((string)actual[r]!["imageId"]!, CultureInfo.InvariantCulture);
                if (id != expected[r].ImageId)
                {
                    expected.ShouldContain(h => h.ImageId == id && Math.Abs(h.Score - expected[r].Score) <= ScoreTolerance, $"'{caption}' rank {r}");
                }
            }

            var unbiased = plain.Search([caption])[0];
            differs += unbiased.Select(h => h.Score).SequenceEqual(expected.Select(h => h.Score)) ? 0 : 1;
        }

        differs.ShouldBe(30, "the prior changes every score, so a silo that ignored it would fail above");
    }

    [Fact]
    public void A_negative_prior_weight_is_a_configuration_error()
    {
        Should.Throw<AvgException>(() => new Hosting.AvgSiloOptions { Roles = "partitions", Redis = "127.0.0.1:1", PriorWeight = -1 }.Validate())
            .Message.ShouldContain("Avg__PriorWeight must be a number ≥ 0, got -1");
    }
}
