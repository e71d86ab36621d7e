using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Avg.Cluster;
using Avg.Cluster.Grains;
using Avg.Cluster.Model;

namespace Avg.Bench;

/// <summary>
/// What one partition refresh costs a query silo as the partition grows (docs/cluster.md, "Query caches by delta"):
/// the same deltas applied to a <see cref="CachedPartition"/> and, for comparison in the same run, merged into a sorted
/// run with the trie built anew (<see cref="PartitionRun.Apply"/> + <see cref="PartitionRun.ToTrie"/>, the refresh
/// before cached partitions kept their rows).
/// </summary>
public sealed class RefreshBenchmark(IReadOnlyList<int> sizes, int deltas, int deltaImages, int depth, int codebookSize, TextWriter log)
{
    private const int FirstVoken = 5;
    private const int FineLevels = 2;

    public JsonObject Run()
    {
        if (sizes.Count == 0 || sizes.Any(s => s < 1)) throw new AvgException("--sizes needs partition sizes of at least 1 image, e.g. 1500,15000");
        if (deltas < 1) throw new AvgException(Invariant($"--deltas must be at least 1, got {deltas}"));
        if (deltaImages < 1) throw new AvgException(Invariant($"--delta-images must be at least 1, got {deltaImages}"));
        if (depth < 2) throw new AvgException(Invariant($"--depth must be at least 2, got {depth}"));
        if (codebookSize <= FirstVoken) throw new AvgException(Invariant($"--codebook must be above {FirstVoken}, got {codebookSize}"));
        var rows = new JsonArray();
        Warm();
        foreach (var size in sizes)
        {
            var random = new Random(size);
            var run = PartitionRun.Build(depth, Enumerable.Range(0, size).Select(Id).ToArray(), Sequences(random, size), new string?[size], FineLevels, new byte[size * FineLevels]);
            var changes = Enumerable.Range(0, deltas).Select(d => Delta(random, d, firstRow: 10_000_000)).ToArray();

            var cached = CachedPartition.From(null, Whole(run), codebookSize);
            var clock = Stopwatch.StartNew();
            foreach (var change in changes)
            {
                cached = CachedPartition.From(cached, change, codebookSize);
            }

            var cachedMs = clock.Elapsed.TotalMilliseconds / deltas;
            clock.Restart();
            foreach (var change in changes)
            {
                run = run.Apply(change);
                _ = run.ToTrie(codebookSize);
            }

            var rebuiltMs = clock.Elapsed.TotalMilliseconds / deltas;
            if (cached.Count != run.Count)
            {
                throw new InvalidOperationException(Invariant($"the two refreshes disagree: {cached.Count} against {run.Count} images"));
            }

            log.WriteLine(Invariant($"{size} images: {cachedMs:F3} ms per {deltaImages}-image delta (cached partition), {rebuiltMs:F3} ms (merge and rebuild)"));
            rows.Add(new JsonObject
            {
                ["partition_images"] = size,
                ["cached_partition_ms_per_delta"] = Math.Round(cachedMs, 4),
                ["merge_and_rebuild_ms_per_delta"] = Math.Round(rebuiltMs, 4),
                ["rebuild_over_cached"] = Math.Round(rebuiltMs / cachedMs, 2),
            });
        }

        return new JsonObject
        {
            ["benchmark"] = "refresh",
            ["depth"] = depth,
            ["codebook"] = codebookSize,
            ["deltas"] = deltas,
            ["delta_images"] = deltaImages,
            ["sizes"] = rows,
        };
    }

    /// <summary>
    /// Both refreshes for two seconds before timing: long enough for the runtime to recompile them optimised (tiered
    /// compilation), as they are in a silo that has served for a while; otherwise the first sizes time unoptimised code.
    /// </summary>
    private void Warm()
    {
        var random = new Random(0);
        var run = PartitionRun.Build(depth, Enumerable.Range(0, 256).Select(Id).ToArray(), Sequences(random, 256), new string?[256], FineLevels, new byte[256 * FineLevels]);
        var cached = CachedPartition.From(null, Whole(run), codebookSize);
        var clock = Stopwatch.StartNew();
        for (var d = 0; clock.Elapsed < TimeSpan.FromSeconds(2); d++)
        {
            var change = Delta(random, d, firstRow: 20_000_000);
            cached = CachedPartition.From(cached, change, codebookSize);
            run = run.Apply(change);
            _ = run.ToTrie(codebookSize);
        }
    }

    /// <summary>Delta <paramref name="d"/>: <c>deltaImages</c> new images, rows from <paramref name="firstRow"/> + d × deltaImages.</summary>
    private PartitionChanges Delta(Random random, int d, int firstRow) => new()
    {
        FirstVoken = FirstVoken,
        Revision = d + 1,
        BaseRevision = d,
        Levels = depth,
        Ids = Enumerable.Range(0, deltaImages).Select(i => Id(firstRow + (d * deltaImages) + i)).ToArray(),
        Vokens = Sequences(random, deltaImages),
        Uris = new string?[deltaImages],
        FineLevels = FineLevels,
        Fine = new byte[deltaImages * FineLevels],
    };

    private int[] Sequences(Random random, int count)
    {
        var vokens = new int[count * depth];
        for (var i = 0; i < vokens.Length; i++)
        {
            vokens[i] = i % depth == 0 ? FirstVoken : random.Next(codebookSize);
        }

        return vokens;
    }

    private static PartitionChanges Whole(PartitionRun run) => new()
    {
        FirstVoken = FirstVoken,
        Revision = 0,
        BaseRevision = -1,
        Levels = run.Levels,
        Ids = run.Ids,
        Vokens = run.Vokens,
        Uris = run.Uris,
        FineLevels = run.FineLevels,
        Fine = run.Fine,
    };

    /// <summary>Scrambled decimal ids, as the cluster benchmarks index.</summary>
    private static string Id(int row) => ScrambledIds.IdOf(row).ToString(CultureInfo.InvariantCulture);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
