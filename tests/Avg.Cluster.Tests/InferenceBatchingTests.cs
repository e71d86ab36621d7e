using Avg.Cluster.Grains;
using Avg.Cluster.Hosting;
using Avg.Cluster.Inference;
using Avg.Retrieval;
using Avg.Tests.Support;
using Microsoft.Extensions.Hosting;

namespace Avg.Cluster.Tests;

/// <summary>Which waiting jobs the model host runs together, and that the Torch side of a silo stays in its own assembly.</summary>
[Trait(TestCategory.Name, TestCategory.Unit)]
public class InferenceBatchingTests
{
    private static readonly CatalogSnapshot CatalogA = new() { Version = 1, FirstVokens = [3] };
    private static readonly CatalogSnapshot CatalogB = new() { Version = 2, FirstVokens = [3, 5] };

    [Fact]
    public void Queries_share_a_pass_only_with_the_same_catalog_beam_widths_and_normalisation()
    {
        var plain = new SearchOptions { K = 5, Beam = 4 };
        SearchJob[] waiting =
        [
            Search("a", plain, CatalogA),
            Search("b", plain with { K = 9 }, CatalogA), // K differs: same pass, the host cuts each answer to its own K
            Search("c", plain, CatalogB),
            Search("d", plain with { Beam = 8 }, CatalogA),
            Search("e", plain with { LevelBeams = [4, 8] }, CatalogA),
            Search("f", plain with { Normalization = StepNormalization.AllowedVokens }, CatalogA),
            Search("g", plain, CatalogA),
        ];

        var batches = InferenceBatching.Searches(waiting, maxBatch: 16).Select(b => string.Concat(b.Select(j => j.Query))).ToArray();

        batches.ShouldBe(["abg", "c", "d", "e", "f"]);
    }

    [Fact]
    public void A_pass_holds_at_most_max_batch_queries_in_arrival_order()
    {
        var plain = new SearchOptions { K = 5, Beam = 4 };
        var waiting = Enumerable.Range(0, 7).Select(i => Search(((char)('a' + i)).ToString(), plain, CatalogA)).ToArray();

        var batches = InferenceBatching.Searches(waiting, maxBatch: 3).Select(b => string.Concat(b.Select(j => j.Query))).ToArray();

        batches.ShouldBe(["abc", "def", "g"]);
    }

    [Fact]
    public void Ingest_passes_take_batches_in_arrival_order_up_to_the_chunk_and_keep_features_and_pixels_apart()
    {
        TokenizeJob[] waiting = [Features(300), Pixels(200), Features(500), Features(100), Pixels(2000), Features(10)];

        var passes = InferenceBatching.Ingest(waiting, chunkImages: 1024)
            .Select(pass => string.Join('+', pass.Select(j => (j.Pixels is null ? "f" : "p") + j.Count)))
            .ToArray();

        // 300+200+500 fit one chunk (features and pixels as two passes); 100 starts the next; 2000 is over the chunk and
        // runs alone; 10 follows it.
        passes.ShouldBe(["f300+f500", "p200", "f100", "p2000", "f10"]);
    }

    [Fact]
    public void The_cluster_assembly_has_no_torch_the_inference_assembly_holds_the_model_host()
    {
        var cluster = typeof(QueryGrain).Assembly.GetReferencedAssemblies().Select(a => a.Name).ToArray();
        cluster.ShouldNotContain("TorchSharp");
        cluster.ShouldNotContain("Avg.Models");
        typeof(ModelHost).Assembly.GetName().Name.ShouldBe("Avg.Cluster.Inference");
    }

    [Fact]
    public void A_model_silo_set_up_without_its_model_host_is_refused_with_the_method_to_call()
    {
        var host = Host.CreateApplicationBuilder();

        var refused = Should.Throw<InvalidOperationException>(() =>
            host.UseOrleans(silo => silo.AddAvgCluster(new AvgSiloOptions { Bundle = AppContext.BaseDirectory, Roles = "model,partitions" })));

        refused.Message.ShouldContain("AddAvgModelSilo");
    }

    private static SearchJob Search(string query, SearchOptions options, CatalogSnapshot catalog) => new(query, options, "v1", catalog, deadline: long.MaxValue);

    private static TokenizeJob Features(int count) => new([new float[count]], null, count);

    private static TokenizeJob Pixels(int count) => new(null, [new byte[count]], count);
}
