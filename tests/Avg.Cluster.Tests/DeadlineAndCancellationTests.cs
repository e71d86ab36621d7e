using System.Diagnostics;
using System.Globalization;
using Avg.Cluster.Grains;
using Avg.Cluster.Hosting;
using Avg.Cluster.Inference;
using Avg.Cluster.Model;
using Avg.Cluster.Storage;
using Avg.Cluster.Telemetry;
using Avg.Cluster.Tests.Support;
using Avg.Data;
using Avg.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.TestingHost;

namespace Avg.Cluster.Tests;

/// <summary>
/// A search answers within its deadline (Avg__QueryTimeoutMs) when partitions hang (their activation waits on a held
/// storage read, as on a stopped silo): without the hung ones, flagged partial; from the copy the silo holds, flagged
/// stale; or, with nothing to answer from, an error — never a hang. A cancelled search or ingest stops its work: the
/// model host drops the search, and an ingest batch writes nothing more.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public sealed class DeadlineAndCancellationTests : IAsyncLifetime
{
    private const int TimeoutMs = 1000;
    private InProcessTestCluster _cluster = null!;
    private FaultyIndexLogStore _store = null!;
    private ModelHost _host = null!;
    private string _version = "";
    private CatalogSnapshot _catalog = null!;
    private string[] _captions = [];

    public async Task InitializeAsync()
    {
        var bundle = TinyShapesBundle.Ensure();
        var dataset = TinyShapesBundle.Dataset();
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddMemoryGrainStorage(AvgStorage.Name);
            silo.Services.AddSingleton<IIndexLogStore>(sp => new FaultyIndexLogStore(new GrainIndexLogStore(sp.GetRequiredService<IGrainFactory>())));
            silo.AddAvgModelSilo(new AvgSiloOptions { Bundle = bundle, Device = "cpu", Threads = 1, Shards = 1, QueryTimeoutMs = TimeoutMs });
        });
        builder.ConfigureSiloHost((_, host) => host.Logging.SetMinimumLevel(LogLevel.Error));
        _cluster = builder.Build();
        await _cluster.DeployAsync();
        var services = _cluster.Silos.OfType<InProcessSiloHandle>().Single().ServiceProvider;
        _store = (FaultyIndexLogStore)services.GetRequiredService<IIndexLogStore>();
        _host = services.GetRequiredService<ModelHost>();
        var info = await _host.Ready;
        _version = info.IndexVersion;
        var test = dataset.Images.Where(i => i.Split == Split.Test).ToArray();
        await Shard.Ingest(test.Select(i => new IngestItem { Id = i.Index.ToString(CultureInfo.InvariantCulture), Pixels = ImageDecoder.DecodeFile(dataset.ImagePath(i), info.ImageSize) }).ToArray());
        _captions = test.Select(i => i.Captions[0]).ToArray();
        _catalog = await Catalog.GetSnapshot();
        _catalog.FirstVokens.Length.ShouldBeGreaterThanOrEqualTo(2, "a partition to hold back and one to answer");
    }

    public async Task DisposeAsync()
    {
        _store.ReleaseReads();
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
    }

    private ITokenizationShardGrain Shard => _cluster.Client.GetGrain<ITokenizationShardGrain>(0);

    private IIndexCatalogGrain Catalog => _cluster.Client.GetGrain<IIndexCatalogGrain>(_version);

    private IQueryGrain Query => _cluster.Client.GetGrain<IQueryGrain>(0);

    [Fact]
    public async Task Hung_partitions_are_left_out_or_read_from_held_copies_within_the_deadline_and_with_none_the_search_fails_in_time()
    {
        // Every other partition hangs (activation waits on its storage read); the cache holds none of them.
        var hung = _catalog.FirstVokens.Where((_, i) => i % 2 == 0).ToArray();
        await HangAsync(hung);
        var everything = new SearchRequest { Query = _captions[0], K = 20, Beam = 16 };
        var clock = Stopwatch.StartNew();
        var partial = await Query.Search(everything);
        var took = clock.Elapsed;
        partial.Partial.ShouldBeTrue();
        partial.MissingPartitions.ShouldBe(hung, "beam 16 reaches every partition; the hung ones are left out");
        partial.StalePartitions.ShouldBeEmpty();
        partial.Items.ShouldNotBeEmpty();
        partial.Items.ShouldAllBe(i => !hung.Contains(i.Vokens[0]));
        took.ShouldBeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(TimeoutMs * 0.9), "it waited for them up to the deadline");
        took.ShouldBeLessThan(TimeSpan.FromMilliseconds(TimeoutMs + 1500), "and not longer");

        // Released: complete again, the hung partitions' images back in the answer.
        _store.ReleaseReads();
        var complete = await Query.Search(everything);
        complete.Partial.ShouldBeFalse();
        complete.Items.ShouldContain(i => hung.Contains(i.Vokens[0]));

        // A partition that changed since this silo cached it, then hangs: read from the held copy, flagged stale. The
        // change is made by a new activation, which has no watchers, so it is not pushed to the silo's cache.
        var member = complete.Items.First(i => hung.Contains(i.Vokens[0]));
        var changed = member.Vokens[0];
        await _cluster.DeactivateAsync(_cluster.Client.GetGrain<IVokenTriePartitionGrain>(changed, _version));
        await _cluster.Client.GetGrain<IVokenTriePartitionGrain>(changed, _version).Upsert([new IndexedImage { Id = "moved-in", Vokens = member.Vokens, Fine = (await _cluster.Client.GetGrain<IVokenTriePartitionGrain>(changed, _version).Find(member.ImageId))!.Fine }], _catalog.FirstVokens.Max() + 1);
        await HangAsync([changed]);
        var stale = await Query.Search(everything);
        stale.Partial.ShouldBeTrue();
        stale.StalePartitions.ShouldBe([changed]);
        stale.MissingPartitions.ShouldBeEmpty();
        stale.Items.Select(i => i.ImageId).ShouldBe(complete.Items.Select(i => i.ImageId), "the held copy answers as before the change");
        _store.ReleaseReads();

        // Every partition hung and none held (a model host with a cache of its own): an error by the deadline, not a hang.
        await HangAsync(_catalog.FirstVokens);
        using var fresh = new ModelHost(
            Microsoft.Extensions.Options.Options.Create(new AvgSiloOptions { Bundle = TinyShapesBundle.Ensure(), Device = "cpu", Threads = 1, QueryTimeoutMs = TimeoutMs }),
            new PartitionCache(_cluster.Client),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<ModelHost>.Instance);
        await fresh.StartAsync(CancellationToken.None);
        await fresh.Ready;
        clock.Restart();
        var failure = await Should.ThrowAsync<TimeoutException>(() => fresh.SearchAsync(_captions[0], new Avg.Retrieval.SearchOptions { K = 10, Beam = 16 }.Validate(), _version, _catalog, TimeSpan.FromMilliseconds(TimeoutMs)));
        clock.Elapsed.ShouldBeLessThan(TimeSpan.FromMilliseconds(TimeoutMs + 1500));
        failure.Message.ShouldContain("Avg__QueryTimeoutMs");
        await fresh.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_cancelled_search_is_dropped_by_the_model_host_and_a_cancelled_ingest_writes_nothing_more()
    {
        // A search waiting on hung partitions, cancelled after 200 ms: it ends then, and never runs again.
        var hung = _catalog.FirstVokens.Where((_, i) => i % 2 == 0).ToArray();
        await HangAsync(hung);
        var before = _host.SearchCounters.Searches;
        using (var cancel = new CancellationTokenSource(200))
        {
            // As the HTTP API cancels: the call's token, and Cancel by request id (a stateless worker's token may reach another activation).
            var request = new SearchRequest { Query = _captions[1], K = 10, Beam = 16, RequestId = Guid.NewGuid() };
            await using var cancelOnSilo = cancel.Token.Register(() => Query.Cancel(request.RequestId));
            var clock = Stopwatch.StartNew();
            await Should.ThrowAsync<OperationCanceledException>(() => Query.Search(request, cancel.Token));
            clock.Elapsed.ShouldBeLessThan(TimeSpan.FromMilliseconds(TimeoutMs), "the caller is answered at once, not at the deadline");
        }

        await Task.Delay(TimeoutMs + 500);
        _host.SearchCounters.Searches.ShouldBe(before, "past its deadline the search would have run without the hung partitions; cancelled, it never ran");
        _store.ReleaseReads();

        // An ingest whose directory writes hang, cancelled after 300 ms: released later, its images were not indexed.
        var buckets = Enumerable.Range(0, ImageDirectoryBuckets.Count).Select(b => _cluster.Client.GetGrain<IImageDirectoryGrain>(b, _version)).ToArray();
        foreach (var bucket in buckets)
        {
            await _cluster.DeactivateAsync(bucket);
        }

        _store.HoldReads(key => key.Contains(":directory:", StringComparison.Ordinal));
        var info = await _host.Ready;
        var random = new Random(3);
        var items = Enumerable.Range(0, 20).Select(i => new IngestItem { Id = $"cancelled-{i}", Features = Enumerable.Range(0, info.FeatureWidth).Select(_ => (float)random.NextDouble()).ToArray() }).ToArray();
        var imagesBefore = (await Catalog.GetSnapshot()).Images;
        using (var cancel = new CancellationTokenSource(300))
        {
            await Should.ThrowAsync<OperationCanceledException>(() => Shard.Ingest(items, cancel.Token));
        }

        _store.ReleaseReads();
        await Task.Delay(500);
        (await Catalog.GetSnapshot()).Images.ShouldBe(imagesBefore, "no partition was written after the cancellation");
        foreach (var item in items)
        {
            var partition = await buckets[ImageDirectoryBuckets.Of(item.Id)].Lookup(item.Id);
            (partition < 0 ? null : await _cluster.Client.GetGrain<IVokenTriePartitionGrain>(partition, _version).Find(item.Id)).ShouldBeNull(item.Id);
        }

        (await Shard.GetStats()).Images.ShouldBe(_catalog.Images, "the shard counts only the batch it finished");
    }

    /// <summary>The partitions' activations hang from now on (their stored reads are held), and the active ones are deactivated.</summary>
    private async Task HangAsync(int[] firstVokens)
    {
        // Reads held first: a call still queued for a partition (an earlier search's refresh) that reactivates it right
        // after its deactivation must hang too, not find its records.
        var keys = firstVokens.Select(f => IndexLogKeys.Partition(_version, f)).ToHashSet(StringComparer.Ordinal);
        _store.HoldReads(keys.Contains);
        foreach (var firstVoken in firstVokens)
        {
            await _cluster.DeactivateAsync(_cluster.Client.GetGrain<IVokenTriePartitionGrain>(firstVoken, _version));
        }
    }
}
