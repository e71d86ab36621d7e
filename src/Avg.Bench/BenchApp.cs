using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace Avg.Bench;

/// <summary>The `avg-bench` command tree; user errors become one-line messages.</summary>
public static class BenchApp
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static RootCommand BuildRoot(TextWriter output, TextWriter error)
    {
        var root = new RootCommand("AVG Cluster benchmarks: measurements that take minutes, kept out of the tests.");
        root.Subcommands.Add(QueryCommand(output, error));
        root.Subcommands.Add(ScaleCommand(output, error));
        root.Subcommands.Add(BackbonesCommand(output, error));
        root.Subcommands.Add(SoakCommand(output, error));
        root.Subcommands.Add(RefreshCommand(output, error));
        return root;
    }

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(error);
        try
        {
            var config = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
            return await BuildRoot(output, error).Parse(args).InvokeAsync(config).ConfigureAwait(false);
        }
        catch (AvgException e)
        {
            await error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            return 2;
        }
#pragma warning disable CA1031 // the benchmark's last line of defence, as in the avg CLI: report, never a stack trace unless asked
        catch (Exception e)
#pragma warning restore CA1031
        {
            await error.WriteLineAsync(AvgException.UnexpectedFailureLine(e)).ConfigureAwait(false);
            return 1;
        }
    }

    private static Command ScaleCommand(TextWriter output, TextWriter error)
    {
        var defaults = new ScaleBenchmarkOptions { Bundle = "" };
        var bundle = new Option<string>("--bundle") { Description = "Model bundle the silo serves (with its image encoder, to make the Shapes vectors).", Required = true };
        var sizes = new Option<string>("--sizes") { Description = "Index sizes in images, comma-separated; the cluster ingests up to each in turn.", DefaultValueFactory = _ => string.Join(',', defaults.Sizes) };
        var queries = new Option<int>("--queries") { Description = "Timed single-stream queries per size (the concurrent figure runs twice as many).", DefaultValueFactory = _ => defaults.Queries };
        var clients = new Option<int>("--clients") { Description = "Concurrent HTTP clients of the throughput figure.", DefaultValueFactory = _ => defaults.Clients };
        var batch = new Option<int>("--batch") { Description = "Images per ingest request (1…1000).", DefaultValueFactory = _ => defaults.Batch };
        var parallel = new Option<int>("--parallel") { Description = "Ingest requests in flight at once.", DefaultValueFactory = _ => defaults.Parallel };
        var seed = new Option<int>("--seed") { Description = "Shapes-world seed of the indexed images and query captions.", DefaultValueFactory = _ => defaults.Seed };
        var cache = new Option<string>("--cache") { Description = "Folder for generated images, encoded vectors and the silo's log (reused).", DefaultValueFactory = _ => defaults.Cache };
        var refreshMs = new Option<int>("--refresh-ms") { Description = "The silo's Avg__RefreshMs: how stale (ms) a partition a query reads may be while it refreshes; 0 = always fresh.", DefaultValueFactory = _ => 0 };
        var noInProcess = new Option<bool>("--no-in-process") { Description = "Skip the in-process comparison (AVG, two-tower exact, HNSW)." };
        var json = new Option<string?>("--json") { Description = "Also write the report to this file." };
        var chart = new Option<string?>("--chart") { Description = "Also draw queries/s and R@10 against index size (in-process methods and the cluster over HTTP) into this SVG file." };
        var command = new Command("scale", "The cluster at scale in one run: HTTP ingest with Redis up to each size with queries running, then idle HTTP search, Redis bytes and silo RSS; then the same vectors in-process.");
        var silos = new Option<int>("--silos") { Description = "Silo processes: 1 (both roles), or N — N − 1 with both roles and one partitions-only, HTTP round-robin over the model silos.", DefaultValueFactory = _ => defaults.Silos };
        foreach (var option in new Option[] { bundle, sizes, queries, clients, batch, parallel, seed, cache, refreshMs, silos, noInProcess, json, chart })
            command.Options.Add(option);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new ScaleBenchmarkOptions
            {
                Bundle = parse.GetValue(bundle)!,
                Sizes = ParseCounts(parse.GetValue(sizes)!, "--sizes", "a whole number of images; give e.g. 10000,100000"),
                Queries = parse.GetValue(queries),
                Clients = parse.GetValue(clients),
                Batch = parse.GetValue(batch),
                Parallel = parse.GetValue(parallel),
                Seed = parse.GetValue(seed),
                Cache = parse.GetValue(cache)!,
                InProcess = !parse.GetValue(noInProcess),
                RefreshMs = parse.GetValue(refreshMs),
                Silos = parse.GetValue(silos),
                JsonPath = parse.GetValue(json),
                ChartPath = parse.GetValue(chart),
            };
            var report = await new ScaleBenchmark(options, error).RunAsync().ConfigureAwait(false);
            await WriteReportAsync(output, report, options.JsonPath, cancellationToken).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    private static Command QueryCommand(TextWriter output, TextWriter error)
    {
        var bundle = new Option<string>("--bundle") { Description = "Model bundle to measure (with its image/text encoder).", Required = true };
        var sizes = new Option<string>("--sizes") { Description = "Index sizes in images, comma-separated.", DefaultValueFactory = _ => "1000,100000" };
        var queries = new Option<int>("--queries") { Description = "Timed single-stream queries per method and size.", DefaultValueFactory = _ => 300 };
        var beam = new Option<int?>("--beam") { Description = "Beam size b of constrained beam search. Default: the bundle's own (20, or 80 for the pretrained encoder's default recipe)." };
        var levelBeams = new Option<string?>("--level-beams") { Description = "Prefixes kept after each voken level instead of --beam at every level, e.g. 20,40,20,10 (as avg eval --level-beams)." };
        var k = new Option<int>("--k") { Description = "Images returned per query.", DefaultValueFactory = _ => 10 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed queries first, per method and size.", DefaultValueFactory = _ => 20 };
        var batch = new Option<int>("--batch") { Description = "Queries per batch for the batched-throughput figure (0 skips it).", DefaultValueFactory = _ => 32 };
        var threads = new Option<int>("--threads") { Description = "TorchSharp CPU threads (0 = all cores). Default 1: single-stream latency on a shared machine stalls with more (docs/benchmarks.md).", DefaultValueFactory = _ => 1 };
        var device = new Option<string>("--device") { Description = "cpu, auto or cuda[:N].", DefaultValueFactory = _ => "cpu" };
        var seed = new Option<int>("--seed") { Description = "Shapes-world seed of the indexed images and query captions.", DefaultValueFactory = _ => 7 };
        var cache = new Option<string>("--cache") { Description = "Folder for generated images and encoded vectors (reused).", DefaultValueFactory = _ => Path.Combine(".cache", "avg-bench") };
        var json = new Option<string?>("--json") { Description = "Also write the report to this file." };
        var priorWeight = new Option<double?>("--prior-weight") { Description = "Search with the train voken frequencies divided out at this weight α (as avg eval --prior-weight); 0 = the paper's score. Default: 0.4 where the bundle records train frequencies, as a silo searches." };
        var chart = new Option<string?>("--chart") { Description = "Also draw queries/s and R@10 against index size, one line per method, into this SVG file." };
        var hnswDefaults = new HnswOptions();
        var connectivity = new Option<int>("--hnsw-connectivity") { Description = "HNSW M: neighbours per node (2M on the base layer).", DefaultValueFactory = _ => hnswDefaults.Connectivity };
        var expansionAdd = new Option<int>("--hnsw-expansion-add") { Description = "HNSW efConstruction: candidates examined per inserted image.", DefaultValueFactory = _ => hnswDefaults.ExpansionAdd };
        var expansionSearch = new Option<int>("--hnsw-expansion-search") { Description = "HNSW ef: candidates examined per query.", DefaultValueFactory = _ => hnswDefaults.ExpansionSearch };
        var balanced = new Option<bool>("--balanced") { Description = "Index each size with balanced assignment of the last voken (fewer shared sequences)." };

        var command = new Command("query", "Single-stream query latency, throughput and R@10 of AVG against two-tower exact search and HNSW, per index size.");
        var collisionWeight = new Option<double?>("--collision-weight") { Description = "w of the collision ranking measured as avg_ranked (bundles with fine codebooks). Default: the bundle's own (30, or 100 for the pretrained encoder's default recipe)." };
        foreach (var option in new Option[] { bundle, sizes, queries, beam, levelBeams, k, warmup, batch, threads, device, seed, cache, balanced, priorWeight, collisionWeight, connectivity, expansionAdd, expansionSearch, json, chart })
            command.Options.Add(option);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new QueryBenchmarkOptions
            {
                Bundle = parse.GetValue(bundle)!,
                Sizes = ParseCounts(parse.GetValue(sizes)!, "--sizes", "a whole number of images; give e.g. 1000,100000"),
                Queries = parse.GetValue(queries),
                Beam = parse.GetValue(beam),
                LevelBeams = parse.GetValue(levelBeams) is { } widths ? ParseCounts(widths, "--level-beams", "a width; give one per voken level, e.g. 20,40,20,10") : null,
                K = parse.GetValue(k),
                Warmup = parse.GetValue(warmup),
                Batch = parse.GetValue(batch),
                Threads = parse.GetValue(threads),
                Device = parse.GetValue(device)!,
                Seed = parse.GetValue(seed),
                Balanced = parse.GetValue(balanced),
                PriorWeight = parse.GetValue(priorWeight),
                CollisionWeight = parse.GetValue(collisionWeight),
                Cache = parse.GetValue(cache)!,
                JsonPath = parse.GetValue(json),
                ChartPath = parse.GetValue(chart),
                Hnsw = new HnswOptions
                {
                    Connectivity = parse.GetValue(connectivity),
                    ExpansionAdd = parse.GetValue(expansionAdd),
                    ExpansionSearch = parse.GetValue(expansionSearch),
                },
            };
            var report = new QueryBenchmark(options, error).Run();
            await WriteReportAsync(output, report, options.JsonPath, cancellationToken).ConfigureAwait(false);
            if (options.ChartPath is { } chartPath)
                await File.WriteAllTextAsync(chartPath, QueryChart.Svg(report), cancellationToken).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    private static Command BackbonesCommand(TextWriter output, TextWriter error)
    {
        var images = new Option<int>("--images") { Description = "Synthetic 224 × 224 images timed per batch size.", DefaultValueFactory = _ => 64 };
        var captions = new Option<int>("--captions") { Description = "Shapes captions timed per batch size.", DefaultValueFactory = _ => 256 };
        var batches = new Option<string>("--batches") { Description = "Batch sizes, comma-separated.", DefaultValueFactory = _ => "1,32" };
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime intra-op threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        var command = new Command("backbones", "Images/s of the frozen ResNet-18 and captions/s of all-MiniLM-L6-v2 (ONNX Runtime, in process) per batch size.");
        foreach (var option in new Option[] { images, captions, batches, threads }) command.Options.Add(option);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var report = new BackboneBenchmark(parse.GetValue(images), parse.GetValue(captions),
                ParseCounts(parse.GetValue(batches)!, "--batches", "a batch size; give e.g. 1,32"), parse.GetValue(threads), error).Run();
            await output.WriteLineAsync(report.ToJsonString(Indented)).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    private static Command RefreshCommand(TextWriter output, TextWriter error)
    {
        var sizes = new Option<string>("--sizes") { Description = "Partition sizes in images, comma-separated.", DefaultValueFactory = _ => "1500,4700,15000,50000" };
        var deltas = new Option<int>("--deltas") { Description = "Deltas applied per size (each timed refresh applies one).", DefaultValueFactory = _ => 300 };
        var deltaImages = new Option<int>("--delta-images") { Description = "Images added per delta (a 500-image ingest batch over 64 partitions adds about 8 to each).", DefaultValueFactory = _ => 8 };
        var levels = new Option<int>("--levels") { Description = "M: vokens per image.", DefaultValueFactory = _ => 3 };
        var codebook = new Option<int>("--codebook") { Description = "N: vokens in the codebook.", DefaultValueFactory = _ => 64 };
        var command = new Command("refresh", "What a query silo's refresh of one partition by a small delta costs as the partition grows: cached partition against merge and rebuild, in one run.");
        foreach (var option in new Option[] { sizes, deltas, deltaImages, levels, codebook }) command.Options.Add(option);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var report = new RefreshBenchmark(ParseCounts(parse.GetValue(sizes)!, "--sizes", "a whole number of images; give e.g. 1500,15000"),
                parse.GetValue(deltas), parse.GetValue(deltaImages), parse.GetValue(levels), parse.GetValue(codebook), error).Run();
            await output.WriteLineAsync(report.ToJsonString(Indented)).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    private static Command SoakCommand(TextWriter output, TextWriter error)
    {
        var d = new SoakBenchmarkOptions { Bundle = "" };
        var bundle = new Option<string>("--bundle") { Description = "Model bundle the silo serves (with its image encoder, to make the Shapes vectors).", Required = true };
        var minutes = new Option<double>("--minutes") { Description = "Length of the mixed load, warm-up included.", DefaultValueFactory = _ => d.Minutes };
        var warmup = new Option<double>("--warmup-minutes") { Description = "First part of the load left out of the start-against-end comparison.", DefaultValueFactory = _ => d.WarmupMinutes };
        var sample = new Option<int>("--sample-seconds") { Description = "Seconds between samples of the silo's /metrics and /proc.", DefaultValueFactory = _ => d.SampleSeconds };
        var preload = new Option<int>("--preload") { Description = "Images indexed before the load; the load keeps the index at this size.", DefaultValueFactory = _ => d.Preload };
        var ingestRate = new Option<int>("--ingest-rate") { Description = "New images indexed per second.", DefaultValueFactory = _ => d.IngestRate };
        var ingestBatch = new Option<int>("--ingest-batch") { Description = "Images per ingest request (1…1000).", DefaultValueFactory = _ => d.IngestBatch };
        var deleteRate = new Option<int>("--delete-rate") { Description = "Images deleted per second, oldest first (0: none; the index then grows).", DefaultValueFactory = _ => d.DeleteRate };
        var searchRate = new Option<double>("--search-rate") { Description = "Searches per second over all search clients.", DefaultValueFactory = _ => d.SearchRate };
        var searchClients = new Option<int>("--search-clients") { Description = "Concurrent search clients.", DefaultValueFactory = _ => d.SearchClients };
        var seed = new Option<int>("--seed") { Description = "Shapes-world seed of the indexed images and query captions.", DefaultValueFactory = _ => d.Seed };
        var cache = new Option<string>("--cache") { Description = "Folder for generated images, encoded vectors and the silo's log (reused).", DefaultValueFactory = _ => d.Cache };
        var fullGc = new Option<double>("--full-gc-minutes") { Description = "After warm-up, ask the silo for a full blocking collection this often (through its diagnostics port, as dotnet-gcdump does) and record the managed set it kept alive (0: never).", DefaultValueFactory = _ => d.FullGcMinutes };
        var json = new Option<string?>("--json") { Description = "Also write the report to this file." };
        var chart = new Option<string?>("--chart") { Description = "Also draw memory, live tensors and search latency over time into this SVG file." };
        var command = new Command("soak", "A steady mixed load (ingest, delete, search) against one silo process with Redis: memory, GC, live tensors and latency over time, start against end.");
        foreach (var option in new Option[] { bundle, minutes, warmup, sample, preload, ingestRate, ingestBatch, deleteRate, searchRate, searchClients, seed, cache, fullGc, json, chart })
            command.Options.Add(option);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new SoakBenchmarkOptions
            {
                Bundle = parse.GetValue(bundle)!,
                Minutes = parse.GetValue(minutes),
                WarmupMinutes = parse.GetValue(warmup),
                SampleSeconds = parse.GetValue(sample),
                Preload = parse.GetValue(preload),
                IngestRate = parse.GetValue(ingestRate),
                IngestBatch = parse.GetValue(ingestBatch),
                DeleteRate = parse.GetValue(deleteRate),
                SearchRate = parse.GetValue(searchRate),
                SearchClients = parse.GetValue(searchClients),
                Seed = parse.GetValue(seed),
                Cache = parse.GetValue(cache)!,
                FullGcMinutes = parse.GetValue(fullGc),
                JsonPath = parse.GetValue(json),
                ChartPath = parse.GetValue(chart),
            };
            var report = await new SoakBenchmark(options, error).RunAsync().ConfigureAwait(false);
            await WriteReportAsync(output, report, options.JsonPath, cancellationToken).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    /// <summary>The report on standard output, and also in <paramref name="jsonPath"/> when given.</summary>
    private static async Task WriteReportAsync(TextWriter output, System.Text.Json.Nodes.JsonObject report, string? jsonPath, CancellationToken cancellationToken)
    {
        var text = report.ToJsonString(Indented);
        await output.WriteLineAsync(text).ConfigureAwait(false);
        if (jsonPath is not null)
            await File.WriteAllTextAsync(jsonPath, text + Environment.NewLine, cancellationToken).ConfigureAwait(false);
    }

    private static int[] ParseCounts(string text, string option, string expected) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(part => int.TryParse(part.Replace("_", "", StringComparison.Ordinal), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
                ? n
                : throw new AvgException($"{option}: '{part}' is not {expected}"))
            .ToArray();
}
