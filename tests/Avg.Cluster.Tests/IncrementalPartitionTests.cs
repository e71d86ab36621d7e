using System.Globalization;
using Avg.Cluster.Grains;
using Avg.Cluster.Hosting;
using Avg.Cluster.Model;
using Avg.Cluster.Storage;
using Avg.Cluster.Telemetry;
using Avg.Retrieval;
using Avg.Tests.Support;
using Microsoft.Extensions.Logging;
using Orleans.TestingHost;

namespace Avg.Cluster.Tests;

/// <summary>
/// Partitions and directory buckets change incrementally (docs/cluster.md, "Incremental partitions"): random add,
/// replace and delete sequences give the same partition as one built from scratch, a query silo's cache refreshed
/// by delta equals a whole fetch, and a partition rebuilt from its stored base and change records (with
/// compactions between) equals the one that wrote them.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public sealed class IncrementalPartitionTests : IAsyncLifetime
{
    private const int Depth = 3;
    private const int FineLevels = 2;
    private const int Vocabulary = 6;
    private const string Version = "incremental-test";
    private InProcessTestCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddMemoryGrainStorage(AvgStorage.Name);
            // Partitions only (no model); a tiny compaction threshold, so the random sequences compact many times.
            silo.AddAvgCluster(new AvgSiloOptions { Roles = AvgSiloOptions.PartitionsRole, CompactionMinimum = 4 });
        });
        builder.ConfigureSiloHost((_, host) => host.Logging.SetMinimumLevel(LogLevel.Warning));
        _cluster = builder.Build();
        await _cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
    }

    /// <summary>Property: for 300 random sequences of changes, merging each change into the run equals building the final set from scratch, trie included.</summary>
    [Fact]
    public void Merged_run_equals_run_built_from_scratch()
    {
        for (var seed = 0; seed < 300; seed++)
        {
            var random = new Random(seed);
            var model = new Dictionary<string, (int[] Vokens, string? Uri, byte[] Fine)>(StringComparer.Ordinal);
            var run = PartitionRun.Empty(Depth);
            for (var step = 0; step < 12; step++)
            {
                var changes = RandomChange(random, model, revision: step + 1, baseRevision: step);
                run = run.Apply(changes);
                var rebuilt = Rebuild(model);
                run.Ids.ShouldBe(rebuilt.Ids, $"seed {seed} step {step}");
                run.Vokens.ShouldBe(rebuilt.Vokens, $"seed {seed} step {step}");
                run.Uris.ShouldBe(rebuilt.Uris, $"seed {seed} step {step}");
                run.Fine.ShouldBe(rebuilt.Fine, $"seed {seed} step {step}");
                TrieBytes(run.ToTrie(Vocabulary)).ShouldBe(TrieBytes(rebuilt.ToTrie(Vocabulary)), $"seed {seed} step {step}");
            }
        }
    }

    /// <summary>
    /// Property: a query silo's copy refreshed by 60 random deltas (adds, replaces, removes; 200 sequences) equals the
    /// copy built from the whole partition after each: the same images in the same order, the same trie nodes, and
    /// the same images at every leaf in the same (ranking) order.
    /// </summary>
    [Fact]
    public void Cached_partition_by_delta_equals_one_built_whole()
    {
        for (var seed = 0; seed < 200; seed++)
        {
            var random = new Random(1000 + seed);
            var model = new Dictionary<string, (int[] Vokens, string? Uri, byte[] Fine)>(StringComparer.Ordinal);
            var copy = CachedPartition.From(null, Whole(model, revision: 0), Vocabulary);
            for (var step = 0; step < 60; step++)
            {
                var changes = RandomChange(random, model, revision: step + 1, baseRevision: step, firstVoken: 1, pool: 10 + (seed % 5 * 20));
                copy = CachedPartition.From(copy, changes, Vocabulary);
                var whole = CachedPartition.From(null, Whole(model, step + 1), Vocabulary);
                copy.Revision.ShouldBe(step + 1);
                copy.Count.ShouldBe(model.Count);
                Canonical(copy).ShouldBe(Canonical(whole), $"seed {seed} step {step}");
                RunText(copy.ToRun()).ShouldBe(RunText(Rebuild(model)), $"seed {seed} step {step}");
            }
        }
    }

    /// <summary>
    /// Past max(<see cref="CachedPartition.MinimumDeadRows"/>, live) unreachable rows the rows are written anew, so a
    /// copy never holds more (the cache's memory under churn stays within about twice the live rows), and a change
    /// applied to a copy that is no longer the newest is applied to a rebuilt copy: the newer copy made from it keeps
    /// reading its own rows.
    /// </summary>
    [Fact]
    public void Cached_partition_compacts_its_rows_and_older_copies_stay_readable()
    {
        var random = new Random(7);
        var model = new Dictionary<string, (int[] Vokens, string? Uri, byte[] Fine)>(StringComparer.Ordinal);
        var copy = CachedPartition.From(null, Whole(model, revision: 0), Vocabulary);
        var rewrites = 0;
        for (var step = 0; step < 600; step++)
        {
            // About 30 changes to a pool of 100 ids: thousands of rows replaced over the run.
            var dead = copy.DeadRows;
            copy = CachedPartition.From(copy, RandomChange(random, model, step + 1, step, firstVoken: 2, pool: 100, maxChanges: 60), Vocabulary);
            copy.DeadRows.ShouldBeLessThanOrEqualTo(Math.Max(CachedPartition.MinimumDeadRows, copy.Count), $"step {step}");
            rewrites += copy.DeadRows < dead ? 1 : 0;
        }

        rewrites.ShouldBeGreaterThan(50, "18,000 changes to at most 100 live images: a rewrite every few steps");

        Canonical(copy).ShouldBe(Canonical(CachedPartition.From(null, Whole(model, 600), Vocabulary)));

        var before = new Dictionary<string, (int[] Vokens, string? Uri, byte[] Fine)>(model, StringComparer.Ordinal);
        var expectedOld = Canonical(copy);
        var newer = CachedPartition.From(copy, RandomChange(random, model, 601, 600, firstVoken: 2, pool: 100, maxChanges: 60), Vocabulary);
        var newerExpected = Canonical(CachedPartition.From(null, Whole(model, 601), Vocabulary));
        Canonical(newer).ShouldBe(newerExpected);

        // Another change to the same older copy (two refreshes from one copy): applied to a rebuilt copy.
        var other = new Dictionary<string, (int[] Vokens, string? Uri, byte[] Fine)>(before, StringComparer.Ordinal);
        var sideways = CachedPartition.From(copy, RandomChange(random, other, 601, 600, firstVoken: 2, pool: 100, maxChanges: 60), Vocabulary);
        Canonical(sideways).ShouldBe(Canonical(CachedPartition.From(null, Whole(other, 601), Vocabulary)));
        Canonical(copy).ShouldBe(expectedOld, "the older copy reads the rows it knew");
        Canonical(newer).ShouldBe(newerExpected, "the newer copy's rows were not written over");
    }

    /// <summary>Images sharing a sequence keep the in-process order: decimal ids ascending as numbers.</summary>
    [Fact]
    public void Images_sharing_a_sequence_rank_by_numeric_id()
    {
        var run = PartitionRun.Build(2, ["10", "9", "100", "2"], [1, 1, 1, 1, 1, 1, 1, 0], [null, null, null, null]);
        run.Ids.ShouldBe(["2", "9", "10", "100"]);
        var trie = run.ToTrie(2);
        trie.ImagesAt(trie.Find([1, 1])).ToArray().ShouldBe([1L, 2, 3]);
    }

    [Fact]
    public void Records_round_trip_and_damage_is_a_clear_error()
    {
        var record = new PartitionRecord(7, 2, ["a", "bb"], [1, 2, 3, 300], ["u", null], ["gone"]);
        foreach (var asBase in new[] { false, true })
        {
            var decoded = IndexLogRecords.DecodePartition(IndexLogRecords.EncodePartition(record, asBase), "p");
            decoded.Revision.ShouldBe(7);
            decoded.Ids.ShouldBe(record.Ids);
            decoded.Vokens.ShouldBe(record.Vokens);
            decoded.Uris.ShouldBe(record.Uris);
            decoded.Removed.ShouldBe(record.Removed);
            IndexLogRecords.DecodeDirectory(IndexLogRecords.EncodeDirectory([("x", 3), ("y", -1)], asBase), "d").ShouldBe([("x", 3), ("y", -1)]);
        }

        var withFine = record with { FineLevels = 2, FineCodes = [9, 255, 0, 7] };
        foreach (var asBase in new[] { false, true })
        {
            var decoded = IndexLogRecords.DecodePartition(IndexLogRecords.EncodePartition(withFine, asBase), "p");
            decoded.Ids.ShouldBe(record.Ids);
            decoded.Vokens.ShouldBe(record.Vokens);
            decoded.FineLevels.ShouldBe(2);
            decoded.Fine.ShouldBe(withFine.Fine);
        }

        // Records without fine codes keep the format they had before fine codes existed, so stored indexes stay readable.
        IndexLogRecords.EncodePartition(record, asBase: false)[0].ShouldBe((byte)1);
        IndexLogRecords.DecodePartition(IndexLogRecords.EncodePartition(record, asBase: false), "p").FineLevels.ShouldBe(0);
        Should.Throw<AvgException>(() => IndexLogRecords.DecodePartition(IndexLogRecords.EncodePartition(withFine, asBase: false)[..^2], "partition 6")).Message.ShouldContain("partition 6 is damaged");
        var bytes = IndexLogRecords.EncodePartition(record, asBase: false);
        Should.Throw<AvgException>(() => IndexLogRecords.DecodePartition(bytes[..^3], "partition 5")).Message.ShouldContain("partition 5 is damaged");
        Should.Throw<AvgException>(() => IndexLogRecords.DecodeDirectory(bytes, "bucket 1")).Message.ShouldContain("not an index log record");
    }

    /// <summary>
    /// Random upserts, replaces and removes through the partition grain: after each, a cache refreshed by delta equals a
    /// whole fetch and the set built from scratch; the grain reactivated from its stored log (bases and records,
    /// compacted along the way) answers the same, and the cache goes on by delta or whole fetch as the grain decides.
    /// </summary>
    [Fact]
    public async Task Partition_grain_by_delta_equals_whole_fetch_and_survives_reactivation()
    {
        for (var seed = 0; seed < 6; seed++)
        {
            var random = new Random(100 + seed);
            var firstVoken = seed % Vocabulary;
            var grain = _cluster.Client.GetGrain<IVokenTriePartitionGrain>(firstVoken, Version + seed);
            var cache = new PartitionCache(_cluster.Client);
            var model = new Dictionary<string, (int[] Vokens, string? Uri, byte[] Fine)>(StringComparer.Ordinal);
            for (var step = 0; step < 25; step++)
            {
                var changes = RandomChange(random, model, 0, 0, firstVoken);
                if (changes.Ids.Length > 0)
                {
                    await grain.Upsert(changes.Ids.Select((id, i) => new IndexedImage { Id = id, Vokens = changes.Vokens[(i * Depth)..((i + 1) * Depth)], Uri = changes.Uris[i], Fine = changes.Fine[(i * FineLevels)..((i + 1) * FineLevels)] }).ToArray(), Vocabulary);
                }

                if (changes.Removed.Length > 0)
                {
                    await grain.Remove(changes.Removed);
                }

                if (step % 9 == 8)
                {
                    await _cluster.DeactivateAsync(grain);
                }

                var info = await grain.GetInfo();
                info.Images.ShouldBe(model.Count);
                var byDelta = await cache.GetAsync(Version + seed, firstVoken, info.Revision, Vocabulary, out _);
                byDelta.Revision.ShouldBe(info.Revision);
                var whole = CachedPartition.From(null, await grain.GetChanges(-1), Vocabulary);
                var rebuilt = Rebuild(model);
                foreach (var run in new[] { byDelta.ToRun(), whole.ToRun() })
                {
                    run.Ids.ShouldBe(rebuilt.Ids, $"seed {seed} step {step}");
                    run.Vokens.ShouldBe(rebuilt.Vokens, $"seed {seed} step {step}");
                    run.Uris.ShouldBe(rebuilt.Uris, $"seed {seed} step {step}");
                    run.Fine.ShouldBe(rebuilt.Fine, $"seed {seed} step {step}");
                    if (run.Count > 0)
                    {
                        run.FineLevels.ShouldBe(FineLevels);
                    }
                }

                Canonical(byDelta).ShouldBe(Canonical(whole), $"seed {seed} step {step}");
            }

            (cache.Fetches - cache.WholeFetches + cache.Pushes).ShouldBeGreaterThan(cache.WholeFetches, "most refreshes are deltas, fetched or pushed");
        }
    }

    /// <summary>
    /// The change list the grain answers deltas from is bounded by the partition (half of it, at least
    /// <see cref="VokenTriePartitionGrain.ChangeListMinimum"/> ids), not by the churn: 300 changes to a 10-image
    /// partition leave a delta for a cache 200 changes behind and the whole partition for one 299 behind.
    /// </summary>
    [Fact]
    public async Task Change_list_is_bounded_by_the_partition_not_the_churn()
    {
        const int firstVoken = 4;
        var version = Version + "-churn";
        var grain = _cluster.Client.GetGrain<IVokenTriePartitionGrain>(firstVoken, version);
        var revisions = new List<long>();
        for (var change = 0; change < 300; change++)
        {
            var id = (change % 10).ToString(CultureInfo.InvariantCulture);
            await grain.Upsert([new IndexedImage { Id = id, Vokens = [firstVoken, change % Vocabulary, (change / Vocabulary) % Vocabulary] }], Vocabulary);
            revisions.Add((await grain.GetInfo()).Revision);
        }

        var recent = await grain.GetChanges(revisions[99]);
        recent.IsWhole.ShouldBeFalse("200 changed ids behind: within the list");
        recent.Ids.Length.ShouldBe(10);
        (await grain.GetChanges(revisions[0])).IsWhole.ShouldBeTrue("299 changed ids behind: past the list, so the whole partition");
    }

    /// <summary>With a refresh interval a query reads the copy it holds while the refresh runs; without one it waits for the change.</summary>
    [Fact]
    public async Task Refresh_interval_serves_the_held_copy_while_it_refreshes()
    {
        const int firstVoken = 2;
        var version = Version + "-refresh";
        var grain = _cluster.Client.GetGrain<IVokenTriePartitionGrain>(firstVoken, version);
        await grain.Upsert([new IndexedImage { Id = "1", Vokens = [firstVoken, 0, 0] }], Vocabulary);
        var nearRealTime = new PartitionCache(_cluster.Client, TimeSpan.FromMinutes(10));
        var fresh = new PartitionCache(_cluster.Client);
        var first = (await grain.GetInfo()).Revision;
        (await nearRealTime.GetAsync(version, firstVoken, first, Vocabulary, out _)).Count.ShouldBe(1);
        (await fresh.GetAsync(version, firstVoken, first, Vocabulary, out _)).Count.ShouldBe(1);

        // A reactivated partition has no watchers, so the change is not pushed: the caches must refresh.
        await _cluster.DeactivateAsync(grain);
        await grain.Upsert([new IndexedImage { Id = "2", Vokens = [firstVoken, 1, 0] }], Vocabulary);
        var second = (await grain.GetInfo()).Revision;
        (await fresh.GetAsync(version, firstVoken, second, Vocabulary, out _)).ToRun().Ids.ShouldBe(["1", "2"], "no interval: the query waits for the change");
        var stale = await nearRealTime.GetAsync(version, firstVoken, second, Vocabulary, out _);
        stale.Revision.ShouldBe(first, "within the interval the held copy answers at once");
        nearRealTime.StaleReads.ShouldBe(1);
        for (var i = 0; i < 100 && nearRealTime.Held(version, firstVoken)!.Revision < second; i++)
        {
            await Task.Delay(50);
        }

        nearRealTime.Held(version, firstVoken)!.ToRun().Ids.ShouldBe(["1", "2"], "the background refresh brought the change");
        fresh.StaleReads.ShouldBe(0);
    }

    /// <summary>
    /// A cache that has fetched a partition watches it: the next changes (an add, a replace, a remove) reach its copy
    /// without a query asking, and the copy equals a whole fetch. A partition reactivated has lost its watchers: the
    /// next query fetches the change it missed, and that fetch watches again.
    /// </summary>
    [Fact]
    public async Task Changes_are_pushed_to_the_caches_that_hold_the_partition()
    {
        const int firstVoken = 3;
        var version = Version + "-push";
        var grain = _cluster.Client.GetGrain<IVokenTriePartitionGrain>(firstVoken, version);
        var cache = new PartitionCache(_cluster.Client);
        await grain.Upsert([new IndexedImage { Id = "1", Vokens = [firstVoken, 0, 0] }], Vocabulary);
        await cache.GetAsync(version, firstVoken, (await grain.GetInfo()).Revision, Vocabulary, out _);
        cache.Fetches.ShouldBe(1);

        await grain.Upsert([new IndexedImage { Id = "2", Vokens = [firstVoken, 1, 0] }, new IndexedImage { Id = "3", Vokens = [firstVoken, 1, 1], Uri = "u3" }], Vocabulary);
        await grain.Upsert([new IndexedImage { Id = "1", Vokens = [firstVoken, 2, 0], Uri = "u1" }], Vocabulary);
        await grain.Remove(["2"]);
        var revision = (await grain.GetInfo()).Revision;
        (await HeldAtAsync(cache, version, firstVoken, revision)).ShouldBeTrue("the three changes were pushed");
        cache.Pushes.ShouldBe(3);
        cache.Fetches.ShouldBe(1, "no query asked");
        var whole = CachedPartition.From(null, await grain.GetChanges(-1), Vocabulary);
        Canonical(cache.Held(version, firstVoken)!).ShouldBe(Canonical(whole));
        cache.Held(version, firstVoken)!.ToRun().Ids.ShouldBe(["3", "1"]);

        await _cluster.DeactivateAsync(grain);
        await grain.Upsert([new IndexedImage { Id = "4", Vokens = [firstVoken, 0, 1] }], Vocabulary);
        revision = (await grain.GetInfo()).Revision;
        var fetched = await cache.GetAsync(version, firstVoken, revision, Vocabulary, out _);
        fetched.ToRun().Ids.ShouldBe(["4", "3", "1"]);
        cache.Fetches.ShouldBe(2, "the reactivated partition had no watchers: the query fetched the change");
        cache.Pushes.ShouldBe(3);

        await grain.Upsert([new IndexedImage { Id = "5", Vokens = [firstVoken, 2, 1] }], Vocabulary);
        (await HeldAtAsync(cache, version, firstVoken, (await grain.GetInfo()).Revision)).ShouldBeTrue("the fetch watched again");
        cache.Pushes.ShouldBe(4);
        cache.Fetches.ShouldBe(2);
    }

    private static async Task<bool> HeldAtAsync(PartitionCache cache, string version, int firstVoken, long revision)
    {
        for (var i = 0; i < 200 && (cache.Held(version, firstVoken)?.Revision ?? -1) < revision; i++)
        {
            await Task.Delay(25);
        }

        return cache.Held(version, firstVoken)?.Revision == revision;
    }

    [Fact]
    public async Task Directory_bucket_survives_reactivation_after_compactions()
    {
        var bucket = _cluster.Client.GetGrain<IImageDirectoryGrain>(3, Version);
        var random = new Random(5);
        var model = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var step = 0; step < 40; step++)
        {
            var ids = Enumerable.Range(0, random.Next(1, 6)).Select(_ => random.Next(30).ToString(CultureInfo.InvariantCulture)).ToArray();
            var partitions = ids.Select(_ => random.Next(Vocabulary)).ToArray();
            var expectedPrevious = new int[ids.Length];
            var added = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var i = 0; i < ids.Length; i++)
            {
                expectedPrevious[i] = added.TryGetValue(ids[i], out var p) || model.TryGetValue(ids[i], out p) ? p : -1;
                if (expectedPrevious[i] < 0)
                {
                    added[ids[i]] = partitions[i];
                }
            }

            (await bucket.Assign(ids, partitions)).ShouldBe(expectedPrevious);
            foreach (var (id, p) in added)
            {
                model[id] = p;
            }

            // Assign records new ids only: an id held elsewhere stays there until Move.
            foreach (var id in ids.Distinct())
            {
                (await bucket.Lookup(id)).ShouldBe(model[id], $"id {id} before the move");
            }

            await bucket.Move(ids, partitions);
            for (var i = 0; i < ids.Length; i++)
            {
                model[ids[i]] = partitions[i];
            }

            var gone = random.Next(30).ToString(CultureInfo.InvariantCulture);
            (await bucket.Remove(gone)).ShouldBe(model.Remove(gone, out var was) ? was : -1);
            if (step % 13 == 12)
            {
                await _cluster.DeactivateAsync(bucket);
            }
        }

        await _cluster.DeactivateAsync(bucket);
        for (var id = 0; id < 30; id++)
        {
            var key = id.ToString(CultureInfo.InvariantCulture);
            (await bucket.Lookup(key)).ShouldBe(model.TryGetValue(key, out var p) ? p : -1, $"id {key}");
        }
    }

    /// <summary>
    /// A change to the model state: new images, replaced vokens or URIs, removals (ids from a small pool, so
    /// replaces and re-adds are common), returned as the net changes a partition would send.
    /// </summary>
    private static PartitionChanges RandomChange(Random random, Dictionary<string, (int[] Vokens, string? Uri, byte[] Fine)> model, long revision, long baseRevision, int? firstVoken = null, int pool = 40, int maxChanges = 8)
    {
        var touched = new HashSet<string>(StringComparer.Ordinal);
        var upserted = new Dictionary<string, (int[] Vokens, string? Uri, byte[] Fine)>(StringComparer.Ordinal);
        var removed = new List<string>();
        for (var n = random.Next(0, maxChanges); n > 0; n--)
        {
            var id = random.Next(pool).ToString(CultureInfo.InvariantCulture);
            if (!touched.Add(id))
            {
                continue;
            }

            if (random.NextDouble() < 0.3 && model.Remove(id))
            {
                removed.Add(id);
                continue;
            }

            var vokens = Enumerable.Range(0, Depth).Select(d => d == 0 && firstVoken is { } f ? f : random.Next(Vocabulary)).ToArray();
            var uri = random.NextDouble() < 0.5 ? null : "u" + random.Next(3).ToString(CultureInfo.InvariantCulture);
            // Few fine values, so a replace that changes only the fine codes happens too.
            var fine = Enumerable.Range(0, FineLevels).Select(_ => (byte)random.Next(3)).ToArray();
            model[id] = (vokens, uri, fine);
            upserted[id] = (vokens, uri, fine);
        }

        var ids = upserted.Keys.ToArray();
        return new PartitionChanges
        {
            Revision = revision,
            BaseRevision = baseRevision,
            Levels = Depth,
            Ids = ids,
            Vokens = ids.SelectMany(id => upserted[id].Vokens).ToArray(),
            Uris = ids.Select(id => upserted[id].Uri).ToArray(),
            FineLevels = FineLevels,
            Fine = ids.SelectMany(id => upserted[id].Fine).ToArray(),
            Removed = [.. removed],
        };
    }

    private static PartitionRun Rebuild(Dictionary<string, (int[] Vokens, string? Uri, byte[] Fine)> model)
    {
        var ids = model.Keys.ToArray();
        return PartitionRun.Build(Depth, ids, ids.SelectMany(id => model[id].Vokens).ToArray(), ids.Select(id => model[id].Uri).ToArray(), FineLevels, ids.SelectMany(id => model[id].Fine).ToArray());
    }

    /// <summary>The model as a whole-partition answer (what <c>GetChanges(-1)</c> sends).</summary>
    private static PartitionChanges Whole(Dictionary<string, (int[] Vokens, string? Uri, byte[] Fine)> model, long revision)
    {
        var run = Rebuild(model);
        return new PartitionChanges { Revision = revision, BaseRevision = -1, Levels = Depth, Ids = run.Ids, Vokens = run.Vokens, Uris = run.Uris, FineLevels = FineLevels, Fine = run.Fine };
    }

    /// <summary>What search sees of a cached partition: every node's voken and children, and each leaf's image ids in order.</summary>
    private static string Canonical(CachedPartition partition)
    {
        var trie = partition.Trie;
        var text = new System.Text.StringBuilder();
        text.Append(trie.NodeCount).Append('|');
        for (var node = 0; node < trie.NodeCount; node++)
        {
            var children = trie.IsLeaf(node) ? default : trie.ChildrenOf(node);
            text.Append(trie.VokenOf(node)).Append(':').Append(children.FirstNode).Append('+').Append(children.Count).Append(';');
        }

        for (var leaf = trie.FirstLeaf; leaf < trie.NodeCount && !trie.IsEmpty; leaf++)
        {
            text.Append('[');
            foreach (var row in trie.ImagesAt(leaf))
            {
                text.Append(partition.IdOf(row)).Append('/').Append(partition.UriOf(row)).Append('/').AppendJoin('.', partition.FineOf(row).ToArray()).Append(',');
            }

            text.Append(']');
        }

        return text.ToString();
    }

    private static string RunText(PartitionRun run) =>
        string.Join(';', run.Ids) + "|" + string.Join(',', run.Vokens) + "|" + string.Join(',', run.Uris) + "|" + string.Join(',', run.Fine);

    private static byte[] TrieBytes(VokenTrie trie)
    {
        using var stream = new MemoryStream();
        trie.WriteTo(stream);
        return stream.ToArray();
    }
}
