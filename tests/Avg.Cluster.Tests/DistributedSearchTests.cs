using System.Globalization;
using Avg.Cluster.Grains;
using Avg.Cluster.Tests.Support;
using Avg.Data;
using Avg.Models.Pipeline;
using Avg.Retrieval;
using Avg.Tests.Support;

namespace Avg.Cluster.Tests;

[Trait(TestCategory.Name, TestCategory.Integration)]
public class DistributedSearchTests(ThreeSiloCluster fixture) : IClassFixture<ThreeSiloCluster>
{
    private const float ScoreTolerance = 1e-4f;

    /// <summary>
    /// Every test caption (≥ 200 queries) searched through the cluster (catalog, partitions spread over 3 silos,
    /// partition cache) returns what the in-process constrained beam search over the whole trie returns: same ids in
    /// the same order, scores within 1e-4 (an id may only swap with one whose score is that close).
    /// </summary>
    [Fact]
    public async Task Distributed_search_equals_in_process_search_over_the_whole_trie()
    {
        var trie = VokenTrie.Build(fixture.Indexed.Select(i => (long.Parse(i.Id, CultureInfo.InvariantCulture), i.Vokens)).ToList(),
            fixture.Indexed[0].Vokens.Length, TinyShapesBundle.Training.CodebookSize);
        var captions = fixture.Dataset.Images.Where(i => i.Split == Split.Test).SelectMany(i => i.Captions).ToArray();
        captions.Length.ShouldBeGreaterThanOrEqualTo(200);
        using var model = AvgModel.Load(fixture.Bundle, "cpu");
        model.Fine.ShouldNotBeNull("the test bundle has fine codebooks, so the cluster ranks within collisions");
        fixture.Indexed.ShouldAllBe(i => i.Fine.Length == model.Fine!.Levels);
        var fine = new FineCodeTable(fixture.Indexed.Select(i => (long.Parse(i.Id, CultureInfo.InvariantCulture), i.Fine)));
        var query = fixture.Grains.GetGrain<IQueryGrain>(0);
        var compared = 0;
        var exactOrder = 0;
        var fanOut = new List<int>();
        for (var c = 0; c < captions.Length; c++)
        {
            var (k, beam) = (c % 3 == 0 ? 10 : 5, c % 2 == 0 ? 8 : 4);
            // Every fifth caption keeps a width per level: wider in the middle, two leaves at the end.
            int[]? levelBeams = c % 5 == 1 ? Enumerable.Range(0, trie.Levels).Select(t => t == trie.Levels - 1 ? 2 : beam * (t + 1)).ToArray() : null;
            using var searcher = model.CreateSearcher(trie, new SearchOptions { K = k, Beam = beam, LevelBeams = levelBeams, CollisionWeight = TinyShapesBundle.CollisionWeight, Prior = model.SearchPrior(null) }, fine);
            var expected = searcher.Search([captions[c]])[0];
            var actual = await query.Search(new SearchRequest { Query = captions[c], K = k, Beam = beam, LevelBeams = levelBeams });

            actual.IndexVersion.ShouldBe(fixture.IndexVersion);
            actual.Items.Length.ShouldBe(expected.Count, captions[c]);
            for (var i = 0; i < expected.Count; i++)
            {
                actual.Items[i].Score.ShouldBe(expected[i].Score, ScoreTolerance, captions[c]);
                var id = long.Parse(actual.Items[i].ImageId, CultureInfo.InvariantCulture);
                if (id != expected[i].ImageId)
                {
                    expected.ShouldContain(h => h.ImageId == id && Math.Abs(h.Score - expected[i].Score) <= ScoreTolerance,
                        $"'{captions[c]}' rank {i}: {id} is not a tie of {expected[i].ImageId}");
                }

                actual.Items[i].Vokens.ShouldBe(trie.Find(actual.Items[i].Vokens) >= 0 ? actual.Items[i].Vokens : []);
                actual.Items[i].Uri.ShouldStartWith("shapes://");
            }

            exactOrder += actual.Items.Select(h => h.ImageId).SequenceEqual(expected.Select(h => h.ImageId.ToString(CultureInfo.InvariantCulture))) ? 1 : 0;
            fanOut.Add(actual.GrainCalls);
            compared++;
        }

        compared.ShouldBeGreaterThanOrEqualTo(200);
        exactOrder.ShouldBeGreaterThanOrEqualTo(compared - 2, "only exact score ties may reorder");
        fanOut.Min().ShouldBe(1, "with a warm partition cache a query costs one catalog call");
    }

    /// <summary>
    /// Queries sent together share the model host's forward passes: the query grain is reentrant, so more than one
    /// query per stateless-worker activation reaches the host's queue at once (batches of more than the 2 activations
    /// a 2-core silo has), and batching changes no result.
    /// </summary>
    [Fact]
    public async Task Concurrent_queries_are_batched_beyond_one_per_activation_with_the_same_results()
    {
        var captions = fixture.Dataset.Images.Where(i => i.Split == Split.Test).SelectMany(i => i.Captions).Take(24).ToArray();
        var query = fixture.Grains.GetGrain<IQueryGrain>(0);
        var alone = new List<SearchResult>();
        foreach (var caption in captions)
        {
            alone.Add(await query.Search(new SearchRequest { Query = caption, K = 10, Beam = 8 }));
        }

        var together = await Task.WhenAll(captions.Select(c => query.Search(new SearchRequest { Query = c, K = 10, Beam = 8 })));

        together.Max(r => r.BatchSize).ShouldBeGreaterThan(Math.Max(2, Environment.ProcessorCount), "queries sent together wait in one batch");
        for (var c = 0; c < captions.Length; c++)
        {
            together[c].Items.Select(i => i.ImageId).ShouldBe(alone[c].Items.Select(i => i.ImageId), captions[c]);
            together[c].Items.Select(i => i.Score).ShouldBe(alone[c].Items.Select(i => i.Score), ScoreTolerance, captions[c]);
        }
    }

    /// <summary>Query and tokenization grains run only on model silos; partitions run on every silo, including the partitions-only one.</summary>
    [Fact]
    public async Task Model_grains_are_placed_only_on_model_silos()
    {
        var partitionsOnly = fixture.PartitionsOnlySilo;
        var modelSilos = fixture.Cluster.Silos.Select(s => s.SiloAddress).Where(a => !a.Equals(partitionsOnly)).Select(a => a.ToString()).ToArray();
        modelSilos.Length.ShouldBe(ThreeSiloCluster.ModelSilos);

        // Called from the partitions-only silo itself: a stateless worker would normally activate locally. That silo first
        // places partition-role grains of another index version, so both role filters are resolved there (regression:
        // a filter strategy shared between roles took the role of the grain type resolved last).
        var fromThere = fixture.GrainsOf(partitionsOnly);
        for (var f = 0; f < 8; f++)
        {
            (await fromThere.GetGrain<IVokenTriePartitionGrain>(f, "other-version").Find("x")).ShouldBeNull();
            (await fromThere.GetGrain<IImageDirectoryGrain>(f, "other-version").Lookup("x")).ShouldBe(-1);
        }

        var querySilos = new HashSet<string>();
        for (var i = 0; i < 20; i++)
        {
            var result = await fromThere.GetGrain<IQueryGrain>(0).Search(new SearchRequest { Query = "a small blue square", K = 3, Beam = 4 });
            result.Items.ShouldNotBeEmpty();
            querySilos.Add(result.Silo);
        }

        var shardSilos = new HashSet<string>();
        for (var shard = 0; shard < 16; shard++)
        {
            shardSilos.Add((await fromThere.GetGrain<ITokenizationShardGrain>(shard).GetStats()).Silo);
        }

        querySilos.ShouldBeSubsetOf(modelSilos);
        shardSilos.ShouldBeSubsetOf(modelSilos);

        // Partition-role grains may go to every silo. Where each one lands is Orleans' placement (resource-optimised,
        // preferring the calling silo, so on a loaded machine a few dozen activations can all miss one silo): keep
        // activating partitions of another index version from every silo until each silo hosts one. A silo the role
        // filter excluded would never get one, however many are placed.
        var allSilos = fixture.Cluster.Silos.Select(s => s.SiloAddress).ToArray();
        var stateful = await StatefulSilos();
        for (var f = 8; f < 8 + 300 && stateful.Length < allSilos.Length; f += allSilos.Length)
        {
            for (var s = 0; s < allSilos.Length; s++)
            {
                (await fixture.GrainsOf(allSilos[s]).GetGrain<IVokenTriePartitionGrain>(f + s, "other-version").Find("x")).ShouldBeNull();
            }

            stateful = await StatefulSilos();
        }

        stateful.ShouldContain(partitionsOnly, "partitions go anywhere, including silos without the model");
        stateful.ShouldBe(allSilos, ignoreOrder: true);
    }

    private async Task<SiloAddress[]> StatefulSilos() =>
        (await fixture.SilosOf<VokenTriePartitionGrain>())
            .Concat(await fixture.SilosOf<ImageDirectoryGrain>())
            .Concat(await fixture.SilosOf<IndexCatalogGrain>())
            .Distinct().ToArray();

    /// <summary>A partition deactivated (its memory gone) comes back from grain storage with the same images, trie and revision.</summary>
    [Fact]
    public async Task Partition_state_survives_deactivation()
    {
        var catalog = await fixture.Grains.GetGrain<IIndexCatalogGrain>(fixture.IndexVersion).GetSnapshot();
        catalog.Images.ShouldBe(fixture.Indexed.Length);
        var firstVoken = catalog.FirstVokens[Array.IndexOf(catalog.ImageCounts, catalog.ImageCounts.Max())];
        var partition = fixture.Grains.GetGrain<IVokenTriePartitionGrain>(firstVoken, fixture.IndexVersion);
        var before = await partition.GetChanges(-1);
        var member = fixture.Indexed.First(i => i.Partition == firstVoken);
        var active = (await fixture.SilosOf<VokenTriePartitionGrain>()).Length;

        await fixture.Cluster.DeactivateAsync(partition);
        (await fixture.SilosOf<VokenTriePartitionGrain>()).Length.ShouldBe(active - 1, "the partition is no longer active");

        var after = await partition.GetChanges(-1);
        after.Revision.ShouldBe(before.Revision);
        after.Ids.ShouldBe(before.Ids);
        after.Vokens.ShouldBe(before.Vokens);
        after.Uris.ShouldBe(before.Uris);
        (await partition.Find(member.Id))!.Vokens.ShouldBe(member.Vokens);
    }

    [Fact]
    public async Task A_shard_called_from_a_client_decodes_image_files_as_the_pixels_path_did_and_a_refused_part_carries_its_problems()
    {
        var shard = fixture.Grains.GetGrain<ITokenizationShardGrain>(1);
        var image = fixture.Dataset.Images.First(i => i.Split == Split.Test);
        var expected = fixture.Indexed.Single(i => i.Id == image.Index.ToString(CultureInfo.InvariantCulture));

        var accepted = await shard.Tokenize([new IngestItem { Id = "file-" + expected.Id, Image = File.ReadAllBytes(fixture.Dataset.ImagePath(image)) }]);
        var refused = await shard.Tokenize([new IngestItem { Id = "junk", Image = "not an image"u8.ToArray() }]);

        accepted.Refused.ShouldBeFalse();
        accepted.Images.ShouldHaveSingleItem().Vokens.ShouldBe(expected.Vokens);
        accepted.Images[0].Fine.ShouldBe(expected.Fine);
        refused.Images.ShouldBeEmpty();
        refused.Problems.Keys.ShouldBe(["images[0].image"]);
        refused.Problems["images[0].image"].ShouldHaveSingleItem().ShouldContain("do not decode as an image");
    }
}
