using System.Diagnostics;
using Avg.Cluster.Hosting;
using Avg.Cluster.Inference;
using Avg.Cluster.Model;
using Avg.Cluster.Telemetry;
using Avg.Models.Pipeline;
using Avg.Retrieval;
using Avg.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Avg.Cluster.Tests;

[Trait(TestCategory.Name, TestCategory.Integration)]
public class ModelHostTests
{
    [Fact]
    public async Task A_search_submitted_while_a_large_ingest_batch_is_tokenized_completes_before_it()
    {
        var bundle = TinyShapesBundle.Ensure();
        using var host = new ModelHost(
            Options.Create(new AvgSiloOptions { Bundle = bundle, Device = "cpu", Threads = 1 }),
            new PartitionCache(null!),
            NullLogger<ModelHost>.Instance);
        await host.StartAsync(CancellationToken.None);
        var info = await host.Ready;
        // One search first, so the generator's first (slow) pass and the JIT are not part of the race below.
        var options = new SearchOptions { K = 5, Beam = 4 }.Validate();
        await host.SearchAsync("a red circle", options, info.IndexVersion, new CatalogSnapshot(), TimeSpan.FromSeconds(30));

        // Size the ingest batch from this machine's speed so that it takes about 2 s to tokenize.
        var probe = RandomRows(20_000, info.FeatureWidth, seed: 1);
        var clock = Stopwatch.StartNew();
        await host.TokenizeFeaturesAsync(probe, 20_000);
        var count = (int)Math.Clamp(20_000 * 2.0 / Math.Max(clock.Elapsed.TotalSeconds, 1e-3), 50_000, 1_000_000);
        var rows = RandomRows(count, info.FeatureWidth, seed: 2);

        var ingest = host.TokenizeFeaturesAsync(rows, count);
        await Task.Delay(200);
        ingest.IsCompleted.ShouldBeFalse("the batch is sized to take seconds");
        var search = host.SearchAsync("a red circle", options, info.IndexVersion, new CatalogSnapshot(), TimeSpan.FromSeconds(5));

        (await Task.WhenAny(search, ingest)).ShouldBe(search, $"a search waits for no ingest batch ({count} images here)");
        (await search).Hits.ShouldBeEmpty("the catalog is empty");

        // Tokenized on the ingest thread beside searches, the vokens and fine codes are the model's own.
        var tokenized = await ingest;
        using var model = AvgModel.Load(bundle, "cpu", 1);
        var vokens = model.Tokenize(rows);
        tokenized.Vokens.ShouldBe(vokens);
        tokenized.Fine.ShouldBe(model.FineCodes(rows, vokens));
        tokenized.FineLevels.ShouldBe(model.Fine!.Levels);
        await host.StopAsync(CancellationToken.None);
    }

    private static float[] RandomRows(int count, int width, int seed)
    {
        var random = new Random(seed);
        var rows = new float[count * width];
        for (var i = 0; i < rows.Length; i++)
        {
            rows[i] = (float)(random.NextDouble() * 2 - 1);
        }

        return rows;
    }
}
