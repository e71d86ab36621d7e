using System.Globalization;
using Avg.Cluster.Grains;
using Avg.Cluster.Hosting;
using Avg.Cluster.Model;
using Avg.Cluster.Storage;
using Avg.Cluster.Telemetry;
using Avg.Cluster.Tests.Support;
using Avg.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.TestingHost;

namespace Avg.Cluster.Tests;

/// <summary>
/// Ingest is completed by sending a failed batch again (docs/cluster.md, "Ingest atomicity"): with storage writes
/// failing at chosen points, a batch that failed part-way leaves each image either indexed or invisible, and the
/// same batch sent again leaves directory and partitions exactly consistent, moves of re-indexed ids included. Writes
/// whose answer was lost, and a second writer on one log, are caught by the fenced log and reloaded.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public sealed class IngestAtomicityTests : IAsyncLifetime
{
    private const int Depth = 3;
    private const int Vocabulary = 8;
    private const string Version = "atomicity-test";
    private InProcessTestCluster _cluster = null!;
    private FaultyIndexLogStore _store = null!;
    private IngestBatchWriter _writer = null!;

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddMemoryGrainStorage(AvgStorage.Name);
            silo.Services.AddSingleton<IIndexLogStore>(sp => new FaultyIndexLogStore(new GrainIndexLogStore(sp.GetRequiredService<IGrainFactory>())));
            silo.AddAvgCluster(new AvgSiloOptions { Roles = AvgSiloOptions.PartitionsRole, CompactionMinimum = 4 });
        });
        builder.ConfigureSiloHost((_, host) => host.Logging.SetMinimumLevel(LogLevel.Error));
        _cluster = builder.Build();
        await _cluster.DeployAsync();
        // The writer as a shard on the silo runs it: the silo's grain factory and fan-out.
        var services = _cluster.Silos.OfType<InProcessSiloHandle>().Single().ServiceProvider;
        _store = (FaultyIndexLogStore)services.GetRequiredService<IIndexLogStore>();
        _writer = new IngestBatchWriter(services.GetRequiredService<IGrainFactory>(), services.GetRequiredService<IngestFanOut>());
    }

    public async Task DisposeAsync()
    {
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
    }

    private IIndexCatalogGrain Catalog => _cluster.Client.GetGrain<IIndexCatalogGrain>(Version);

    [Fact]
    public async Task A_batch_failed_part_way_leaves_each_image_indexed_or_invisible_and_sending_it_again_completes_it()
    {
        var expected = new Dictionary<string, int[]>(StringComparer.Ordinal);
        await WriteAsync(expected, Batch(0, 10));

        // Batch 2's write to partition 3 fails: its other partitions are written, its images in 3 are not.
        var second = Batch(10, 10);
        _store.FailNextAppend(":partition:3");
        var failure = await Should.ThrowAsync<Exception>(() => _writer.WriteAsync(second, Version, Vocabulary));
        failure.Message.ShouldContain("Injected fault");
        var inThree = second.Where(i => i.Partition == 3).Select(i => i.Id).ToArray();
        inThree.ShouldNotBeEmpty();
        foreach (var image in second)
        {
            var found = await FindAsync(image.Id);
            if (image.Partition == 3)
            {
                found.ShouldBeNull($"image {image.Id} of the failed partition write is not found (GET answers 404)");
            }
            else
            {
                found.ShouldNotBeNull($"image {image.Id} of a partition written before the failure");
                expected[image.Id] = image.Vokens;
            }
        }

        await AssertConsistentAsync(expected);

        // Sent again: complete and consistent.
        await WriteAsync(expected, second);
        _store.Pending.ShouldBe(0);
    }

    [Fact]
    public async Task A_move_to_another_partition_failed_part_way_is_completed_by_sending_the_batch_again()
    {
        var expected = new Dictionary<string, int[]>(StringComparer.Ordinal);
        await WriteAsync(expected, [Image("x", 1, 2, 3), Image("y", 1, 0, 0)]);

        // Re-indexed with another first voken: the new partition is written, the old one's removal fails.
        var moved = Image("x", 2, 2, 3);
        _store.FailNextAppend(":partition:1");
        await Should.ThrowAsync<Exception>(() => _writer.WriteAsync([moved], Version, Vocabulary));
        (await Directory("x").Lookup("x")).ShouldBe(1, "the directory moves an id only after its old partition dropped it");

        // Sent again, the move completes: the old partition no longer holds it, the directory names the new one.
        await WriteAsync(expected, [moved]);
        (await Partition(1).Find("x")).ShouldBeNull();
        (await Partition(2).Find("x"))!.Vokens.ShouldBe(moved.Vokens);
    }

    [Fact]
    public async Task A_write_stored_but_not_answered_is_reloaded_before_the_next_change_and_caches_see_it()
    {
        var expected = new Dictionary<string, int[]>(StringComparer.Ordinal);
        await WriteAsync(expected, [Image("a", 4, 0, 1)]);
        var cache = new PartitionCache(_cluster.Client);
        var held = await cache.GetAsync(Version, 4, (await Partition(4).GetInfo()).Revision, Vocabulary, out _);
        held.ToRun().Ids.ShouldBe(["a"]);

        // "b" is stored, but the partition saw a failure: memory lacks it, storage has it.
        _store.FailNextAppend(":partition:4", afterStoring: true);
        await Should.ThrowAsync<Exception>(() => _writer.WriteAsync([Image("b", 4, 1, 1)], Version, Vocabulary));
        (await Partition(4).Find("b")).ShouldBeNull("not yet in memory");

        // The next change reloads first: "b" (stored, and in the directory) is there, with "c"; so is every cache.
        await _writer.WriteAsync([Image("c", 4, 2, 1)], Version, Vocabulary);
        expected["b"] = [4, 1, 1];
        expected["c"] = [4, 2, 1];
        await AssertConsistentAsync(expected);
        var info = await Partition(4).GetInfo();
        info.Revision.ShouldBeGreaterThan(held.Revision);
        (await cache.GetAsync(Version, 4, info.Revision, Vocabulary, out _)).ToRun().Ids.ShouldBe(["a", "b", "c"]);
    }

    [Fact]
    public async Task A_second_writer_on_one_log_is_refused_and_the_partition_reloads_what_it_wrote()
    {
        var store = new GrainIndexLogStore(_cluster.Client);
        const string key = "fence-test";
        await store.AppendAsync(key, [1], expectedChanges: 0);
        await Should.ThrowAsync<IndexLogConflictException>(() => store.AppendAsync(key, [2], expectedChanges: 0));
        await Should.ThrowAsync<IndexLogConflictException>(() => store.CompactAsync(key, [9], changesCovered: 2));
        await store.CompactAsync(key, [9], changesCovered: 1);
        await store.AppendAsync(key, [3], expectedChanges: 0);
        (await store.ReadAsync(key)).Changes.Count.ShouldBe(1);

        // Another writer (a second activation during a membership change) appends to partition 5's log behind its back.
        var expected = new Dictionary<string, int[]>(StringComparer.Ordinal);
        await WriteAsync(expected, [Image("p", 5, 0, 0)]);
        var logKey = IndexLogKeys.Partition(Version, 5);
        var stored = await store.ReadAsync(logKey);
        var foreign = new PartitionRecord((await Partition(5).GetInfo()).Revision + 1, Depth, ["q"], [5, 3, 3], [null], []);
        await store.AppendAsync(logKey, IndexLogRecords.EncodePartition(foreign, asBase: false), stored.Changes.Count);

        // The partition's next write is refused (nothing of it stored), then it reloads and holds the other writer's image.
        await Should.ThrowAsync<IndexLogConflictException>(() => Partition(5).Upsert([Image("r", 5, 1, 1)], Vocabulary));
        (await Partition(5).Upsert([Image("r", 5, 1, 1)], Vocabulary)).ShouldBe(3);
        (await Partition(5).Find("q")).ShouldNotBeNull();
        (await store.ReadAsync(logKey)).Changes.Select(c => IndexLogRecords.DecodePartition(c, logKey).Ids.Single()).ShouldBe(["p", "q", "r"]);
    }

    private static IndexedImage Image(string id, params int[] vokens) => new() { Id = id, Vokens = vokens };

    /// <summary>Ids from <paramref name="from"/>, spread over partitions 0…4.</summary>
    private static IndexedImage[] Batch(int from, int count) =>
        Enumerable.Range(from, count).Select(i => Image(i.ToString(CultureInfo.InvariantCulture), i % 5, (i / 5) % Vocabulary, i % 3)).ToArray();

    private async Task WriteAsync(Dictionary<string, int[]> expected, IndexedImage[] batch)
    {
        await _writer.WriteAsync(batch, Version, Vocabulary);
        foreach (var image in batch)
        {
            expected[image.Id] = image.Vokens;
        }

        await AssertConsistentAsync(expected);
    }

    private IImageDirectoryGrain Directory(string id) => _cluster.Client.GetGrain<IImageDirectoryGrain>(ImageDirectoryBuckets.Of(id), Version);

    private IVokenTriePartitionGrain Partition(int firstVoken) => _cluster.Client.GetGrain<IVokenTriePartitionGrain>(firstVoken, Version);

    /// <summary>An image as GET /v1/images/{id} finds it: directory, then its partition.</summary>
    private async Task<IndexedImage?> FindAsync(string id)
    {
        var partition = await Directory(id).Lookup(id);
        return partition < 0 ? null : await Partition(partition).Find(id);
    }

    /// <summary>Exactly <paramref name="expected"/>: each id found with its vokens, every partition holding only its own, the catalog's counts equal.</summary>
    private async Task AssertConsistentAsync(Dictionary<string, int[]> expected)
    {
        foreach (var (id, vokens) in expected)
        {
            (await FindAsync(id))?.Vokens.ShouldBe(vokens, $"image {id}");
            (await FindAsync(id)).ShouldNotBeNull($"image {id}");
        }

        for (var voken = 0; voken < Vocabulary; voken++)
        {
            var whole = await Partition(voken).GetChanges(-1);
            whole.Ids.Order(StringComparer.Ordinal).ShouldBe(expected.Where(e => e.Value[0] == voken).Select(e => e.Key).Order(StringComparer.Ordinal), $"partition {voken}");
        }

        var snapshot = await Catalog.GetSnapshot();
        snapshot.Images.ShouldBe(expected.Count, "the catalog counts every image once");
        snapshot.FirstVokens.ShouldBe(expected.Values.Select(v => v[0]).Distinct().Order());
    }
}
