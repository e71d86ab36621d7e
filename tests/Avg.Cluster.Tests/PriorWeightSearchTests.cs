using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Avg.Cluster.Tests.Support;
using Avg.Data;
using Avg.Models.Pipeline;
using Avg.Retrieval;
using Avg.Tests.Support;

namespace Avg.Cluster.Tests;

[Trait(TestCategory.Name, TestCategory.Integration)]
public class PriorWeightSearchTests
{
    private const float ScoreTolerance = 1e-4f;

    /// <summary>
    /// A silo started with Avg__PriorWeight ranks over HTTP as the in-process search with that prior does (with the
    /// ranking within collisions at the weight the bundle records on both sides: the silo has no Avg__CollisionWeight),
    /// and not as the plain sum of log-probabilities.
    /// </summary>
    [Fact]
    public async Task A_silo_with_a_prior_weight_ranks_as_the_in_process_search_with_that_prior()
    {
        await using var silo = await EmbeddedSilo.StartAsync(TinyShapesBundle.Ensure(), priorWeight: 1);
        var differs = await CompareWithInProcessAsync(silo, model => new SearchOptions { K = 10, Beam = 8, Prior = model.VokenPrior(1), CollisionWeight = TinyShapesBundle.CollisionWeight },
            model => new SearchOptions { K = 10, Beam = 8, CollisionWeight = TinyShapesBundle.CollisionWeight });
        differs.ShouldBe(30, "the prior changes every score, so a silo that ignored it would fail above");
    }

    /// <summary>
    /// Without Avg__PriorWeight a silo ranks by its preset (Avg__Preset): the default divides the train frequencies out
    /// at <see cref="VokenPrior.DefaultWeight"/>, as the in-process search with the same preset does; "paper" does not.
    /// </summary>
    [Theory]
    [InlineData(null)]
    [InlineData("paper")]
    public async Task A_silo_without_a_prior_weight_ranks_by_its_preset(string? preset)
    {
        var chosen = SearchPresets.Parse(preset, "preset");
        await using var silo = await EmbeddedSilo.StartAsync(TinyShapesBundle.Ensure(), priorWeight: null, configure: o => o.Preset = preset ?? "default");
        var differs = await CompareWithInProcessAsync(silo,
            model => new SearchOptions { K = 10, Beam = 8, Prior = model.SearchPrior(null, chosen), CollisionWeight = TinyShapesBundle.CollisionWeight },
            model => new SearchOptions { K = 10, Beam = 8, Prior = chosen == SearchPreset.Paper ? model.VokenPrior(VokenPrior.DefaultWeight) : null, CollisionWeight = TinyShapesBundle.CollisionWeight });
        differs.ShouldBe(30, "the prior changes every score, so a silo that took the other preset would fail above");
    }

    /// <summary>
    /// Ranking within collisions end to end: the silo's fine codes (returned by ingest) and its ranking equal the
    /// in-process ranker's; with Avg__CollisionWeight=0 the silo ranks by the generator score alone.
    /// </summary>
    [Theory]
    [InlineData(SearchOptions.DefaultCollisionWeight)]
    [InlineData(0)]
    public async Task A_silo_ranks_within_collisions_as_the_in_process_search_does(double weight)
    {
        await using var silo = await EmbeddedSilo.StartAsync(TinyShapesBundle.Ensure(), collisionWeight: weight);
        double? used = weight > 0 ? weight : null;
        double? other = weight > 0 ? null : SearchOptions.DefaultCollisionWeight;
        var differs = await CompareWithInProcessAsync(silo, _ => new SearchOptions { K = 10, Beam = 8, CollisionWeight = used }, _ => new SearchOptions { K = 10, Beam = 8, CollisionWeight = other });
        differs.ShouldBe(30, "ranking within collisions adds w·q·v̂ to every score, so a silo that did the other would fail above");
    }

    /// <summary>
    /// Indexes the test split over HTTP, then searches 30 captions over HTTP and in process with <paramref name="expected"/>:
    /// same ids in the same order (ties within 1e-4 may swap), same scores. Returns how many of them score differently under <paramref name="contrast"/>.
    /// </summary>
    private static async Task<int> CompareWithInProcessAsync(EmbeddedSilo silo, Func<AvgModel, SearchOptions> expected, Func<AvgModel, SearchOptions> contrast)
    {
        var dataset = TinyShapesBundle.Dataset();
        var test = dataset.Images.Where(i => i.Split == Split.Test).ToArray();
        var added = await silo.Http.PostAsJsonAsync("/v1/images", new
        {
            images = test.Select(i => new { id = i.Index.ToString(CultureInfo.InvariantCulture), imageBase64 = Convert.ToBase64String(File.ReadAllBytes(dataset.ImagePath(i))) }),
        });
        added.StatusCode.ShouldBe(HttpStatusCode.OK, await added.Content.ReadAsStringAsync());
        var indexed = JsonNode.Parse(await added.Content.ReadAsStringAsync())!["indexed"]!.AsArray()
            .Select(e => (Id: long.Parse((string)e!["id"]!, CultureInfo.InvariantCulture), Vokens: e["vokens"]!.AsArray().Select(v => (int)v!).ToArray(),
                Fine: e["fine"]!.AsArray().Select(v => (byte)(int)v!).ToArray()))
            .ToList();
        var trie = VokenTrie.Build(indexed.Select(i => (i.Id, i.Vokens)).ToList(), TinyShapesBundle.Training.Levels, TinyShapesBundle.Training.CodebookSize);

        using var model = AvgModel.Load(silo.Options.Bundle!, "cpu");
        indexed.ShouldAllBe(i => i.Fine.Length == model.Fine!.Levels);
        var fine = new FineCodeTable(indexed.Select(i => (i.Id, i.Fine)));
        using var searcher = model.CreateSearcher(trie, expected(model), fine);
        using var otherSearcher = model.CreateSearcher(trie, contrast(model), fine);
        var differs = 0;
        foreach (var caption in test.Take(30).Select(i => i.Captions[0]))
        {
            var hits = searcher.Search([caption])[0];
            var response = JsonNode.Parse(await (await silo.Http.PostAsJsonAsync("/v1/search", new { query = caption, k = 10, beam = 8 })).Content.ReadAsStringAsync())!;
            var actual = response["results"]!.AsArray();
            actual.Count.ShouldBe(hits.Count, caption);
            for (var r = 0; r < hits.Count; r++)
            {
                ((float)actual[r]!["score"]!).ShouldBe(hits[r].Score, ScoreTolerance, caption);
                var id = long.Parse((string)actual[r]!["imageId"]!, CultureInfo.InvariantCulture);
                if (id != hits[r].ImageId)
                {
                    hits.ShouldContain(h => h.ImageId == id && Math.Abs(h.Score - hits[r].Score) <= ScoreTolerance, $"'{caption}' rank {r}");
                }
            }

            var contrasted = otherSearcher.Search([caption])[0];
            differs += contrasted.Select(h => h.Score).SequenceEqual(hits.Select(h => h.Score)) ? 0 : 1;
        }

        return differs;
    }

    [Fact]
    public void An_unknown_preset_is_a_configuration_error() =>
        Should.Throw<AvgException>(() => new Hosting.AvgSiloOptions { Roles = "partitions", Redis = "127.0.0.1:1", Preset = "fast" }.Validate())
            .Message.ShouldContain("Avg__Preset 'fast': expected default or paper");

    [Fact]
    public void A_negative_prior_weight_is_a_configuration_error()
    {
        Should.Throw<AvgException>(() => new Hosting.AvgSiloOptions { Roles = "partitions", Redis = "127.0.0.1:1", PriorWeight = -1 }.Validate())
            .Message.ShouldContain("Avg__PriorWeight must be a number ≥ 0, got -1");
    }

    [Fact]
    public void A_negative_collision_weight_is_a_configuration_error()
    {
        Should.Throw<AvgException>(() => new Hosting.AvgSiloOptions { Roles = "partitions", Redis = "127.0.0.1:1", CollisionWeight = -1 }.Validate())
            .Message.ShouldContain("Avg__CollisionWeight must be a number ≥ 0, got -1");
    }
}
