using System.Globalization;

namespace Avg.Bench;

/// <summary>Settings of the query-speed benchmark; defaults are the figures the project reports (beam 20, top 10).</summary>
public sealed record QueryBenchmarkOptions
{
    /// <summary>Model bundle whose encoder, tokenizer and generator are measured.</summary>
    public required string Bundle { get; init; }

    /// <summary>Index sizes (images), measured in ascending order; smaller sizes are prefixes of the largest image set.</summary>
    public IReadOnlyList<int> Sizes { get; init; } = [1_000, 100_000];

    /// <summary>Timed single-stream queries per method and size.</summary>
    public int Queries { get; init; } = 300;

    /// <summary>Beam b; null for the bundle's recorded default (<see cref="Retrieval.SearchDefaults"/>).</summary>
    public int? Beam { get; init; }

    /// <summary>Widths per voken level in place of <see cref="Beam"/> (<see cref="Retrieval.SearchOptions.LevelBeams"/>); null for the uniform beam.</summary>
    public IReadOnlyList<int>? LevelBeams { get; init; }

    public int K { get; init; } = 10;

    /// <summary>Untimed queries run first per method and size (JIT, allocator and cache warm-up).</summary>
    public int Warmup { get; init; } = 20;

    /// <summary>Queries per batch for the batched-throughput figure; 0 skips it.</summary>
    public int Batch { get; init; } = 32;

    /// <summary>TorchSharp intra-op threads; 0 keeps the runtime default (all cores).</summary>
    public int Threads { get; init; }

    public string Device { get; init; } = "cpu";

    /// <summary>Seed of the Shapes world that supplies the indexed images and the query captions.</summary>
    public int Seed { get; init; } = 7;

    /// <summary>Folder for generated images and encoded vectors, reused across runs.</summary>
    public string Cache { get; init; } = Path.Combine(".cache", "avg-bench");

    public string? JsonPath { get; init; }

    /// <summary>Where to write the SVG chart of queries/s and R@10 against index size; null for none.</summary>
    public string? ChartPath { get; init; }

    /// <summary>Graph parameters of the HNSW peer.</summary>
    public HnswOptions Hnsw { get; init; } = new();

    /// <summary>Index each size with balanced assignment of the last voken (fewer images sharing a sequence).</summary>
    public bool Balanced { get; init; }

    /// <summary>
    /// α of the search's voken prior (<see cref="Retrieval.VokenPrior"/>); 0 ranks by the sum of log-probabilities;
    /// null takes the default preset's where the bundle records train frequencies, as a silo does.
    /// </summary>
    public double? PriorWeight { get; init; }

    /// <summary>w of the collision ranking measured as "avg_ranked" (bundles with fine codebooks); null for the bundle's recorded default.</summary>
    public double? CollisionWeight { get; init; }

    public int LargestSize => Sizes.Max();

    public int SmallestSize => Sizes.Min();

    /// <summary>Throws a message naming the bad value.</summary>
    public QueryBenchmarkOptions Validate()
    {
        if (Sizes.Count == 0) throw new AvgException("--sizes needs at least one index size, e.g. 1000,100000");
        foreach (var size in Sizes)
            if (size < 1) throw new AvgException(Invariant($"--sizes: every size must be at least 1 image, got {size}"));
        if (Queries < 1) throw new AvgException(Invariant($"--queries must be at least 1, got {Queries}"));
        if (Beam < 1) throw new AvgException(Invariant($"--beam must be at least 1, got {Beam}"));
        if (LevelBeams is { } widths && (widths.Count == 0 || widths.Any(w => w < 1)))
            throw new AvgException(Invariant($"--level-beams: every width must be at least 1, got {string.Join(",", widths)}"));
        if (K < 1) throw new AvgException(Invariant($"--k must be at least 1, got {K}"));
        if (Warmup < 0) throw new AvgException(Invariant($"--warmup must be 0 or more, got {Warmup}"));
        if (Batch < 0) throw new AvgException(Invariant($"--batch must be 0 (skip) or more, got {Batch}"));
        if (CollisionWeight is { } w && (!double.IsFinite(w) || w <= 0)) throw new AvgException(Invariant($"--collision-weight must be a number > 0, got {w}"));
        if (PriorWeight is { } alpha && !Avg.Retrieval.VokenPrior.IsValidWeight(alpha)) throw new AvgException(Invariant($"--prior-weight must be a number ≥ 0, got {alpha}"));
        if (Hnsw.Connectivity < 2) throw new AvgException(Invariant($"--hnsw-connectivity must be at least 2, got {Hnsw.Connectivity}"));
        if (Hnsw.ExpansionAdd < 1) throw new AvgException(Invariant($"--hnsw-expansion-add must be at least 1, got {Hnsw.ExpansionAdd}"));
        if (Hnsw.ExpansionSearch < 1) throw new AvgException(Invariant($"--hnsw-expansion-search must be at least 1, got {Hnsw.ExpansionSearch}"));
        if (Threads < 0) throw new AvgException(Invariant($"--threads must be 0 (runtime default) or more, got {Threads}"));
        if (!Directory.Exists(Bundle)) throw new AvgException($"--bundle {Bundle}: no such folder; train one with `avg train` or `avg demo --quick`");
        return this;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
