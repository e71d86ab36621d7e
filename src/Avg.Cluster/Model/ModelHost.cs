using System.Diagnostics;
using System.Threading.Channels;
using Avg.Cluster.Hosting;
using Avg.Cluster.Telemetry;
using Avg.Models.Encoders;
using Avg.Models.Generation;
using Avg.Models.Pipeline;
using Avg.Retrieval;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Avg.Cluster.Model;

/// <summary>Identifiers (rows of M vokens) and fine codes (rows of <paramref name="FineLevels"/> bytes) of a batch of images.</summary>
public sealed record TokenizedImages(int[] Vokens, byte[] Fine, int FineLevels);

/// <summary>What the model host returns for one query of a batch; <paramref name="Missing"/> and <paramref name="Stale"/> name the partitions left out or read from older copies at the deadline.</summary>
public sealed record HostSearchOutcome(SearchHit[] Hits, PartitionSource Source, double GeneratorMs, int BatchSize, double WaitMs, int[] Missing, int[] Stale);

/// <summary>
/// The one model of a silo: loads the bundle once and runs every TorchSharp call on two threads of its own, each fed by
/// a queue: searches on the inference thread, ingest (encoder and tokenizer) on an ingest thread at a lower OS priority
/// (<see cref="AvgSiloOptions.IngestNice"/>), so a query never waits behind ingest and the kernel runs it first when
/// the cores are busy. The two use different modules (generator; encoder and tokenizer). Requests that arrive while a
/// thread is busy are batched: image batches from all shards into one encoder and tokenizer pass, concurrent queries
/// over the same catalog into one generator pass per beam-search step. Callers (grains) only await; nothing blocks the
/// Orleans scheduler, and dispose scopes never span an await.
/// </summary>
public sealed partial class ModelHost : IHostedService, IDisposable
{
    private readonly AvgSiloOptions _options;
    private readonly PartitionCache _cache;
    private readonly ILogger<ModelHost> _logger;
    private readonly AvgMetrics _metrics;
    private readonly Channel<Job> _queue = Channel.CreateUnbounded<Job>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Channel<TokenizeJob> _ingest = Channel.CreateUnbounded<TokenizeJob>(new UnboundedChannelOptions { SingleReader = true });
    private readonly TaskCompletionSource<BundleInfo> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Thread? _thread;
    private Thread? _ingestThread;
    private AvgModel? _model;
    private GeneratorScorer? _scorer;
    private VokenPrior? _prior;
    private CollisionRanker? _ranker;
    /// <summary>Most images of queued ingest the ingest thread tokenizes in one pass.</summary>
    private const int IngestChunkImages = 1024;

    private long _forwardBatches;
    private long _searches;

    public ModelHost(IOptions<AvgSiloOptions> options, PartitionCache cache, AvgMetrics metrics, ILogger<ModelHost> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _metrics = metrics;
        _options = options.Value;
        _cache = cache;
        _logger = logger;
    }

    /// <summary>False on silos without the model role: they never load a bundle.</summary>
    public bool Enabled => _options.HasModel;

    /// <summary>Completes with the bundle's facts once it is loaded; faults with the reason when it cannot be.</summary>
    public Task<BundleInfo> Ready => Enabled ? _ready.Task : Task.FromException<BundleInfo>(NotAModelSilo());

    public bool IsReady => _ready.Task.IsCompletedSuccessfully;

    /// <summary>Generator batches run (each may hold several queries) and queries answered.</summary>
    public (long Batches, long Searches) SearchCounters => (Interlocked.Read(ref _forwardBatches), Interlocked.Read(ref _searches));

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!Enabled)
        {
            return Task.CompletedTask;
        }

        _thread = new Thread(Run) { IsBackground = true, Name = "avg-inference" };
        _thread.Start();
        _ingestThread = new Thread(RunIngest) { IsBackground = true, Name = "avg-ingest" };
        _ingestThread.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        _ingest.Writer.TryComplete();
        return Task.CompletedTask;
    }

    /// <summary>Voken sequences (rows of M vokens) of feature vectors (rows of the bundle's width); a cancelled batch not yet run is dropped.</summary>
    public Task<TokenizedImages> TokenizeFeaturesAsync(float[] rows, int count, CancellationToken cancellationToken = default) =>
        Enqueue(new TokenizeJob([rows], null, count), cancellationToken);

    /// <summary>
    /// As <see cref="TokenizeFeaturesAsync(float[], int, CancellationToken)"/>, one array per image: the rows are copied
    /// once, into the model's input, instead of into a batch array first (a large-object-heap array per batch).
    /// </summary>
    public Task<TokenizedImages> TokenizeFeaturesAsync(IReadOnlyList<float[]> rows, CancellationToken cancellationToken = default) =>
        Enqueue(new TokenizeJob(rows, null, rows.Count), cancellationToken);

    /// <summary>Voken sequences of decoded images: one array per image, planar RGB at the bundle's image size, copied once into the model's input.</summary>
    public Task<TokenizedImages> TokenizeImagesAsync(IReadOnlyList<byte[]> pixels, CancellationToken cancellationToken = default) =>
        Enqueue(new TokenizeJob(null, pixels, pixels.Count), cancellationToken);

    /// <summary>
    /// Constrained beam search of one query over the index that <paramref name="catalog"/> describes, answered once
    /// <paramref name="timeout"/> has passed even if some partitions have not arrived: those are read from the copy this
    /// silo holds, or left out (<see cref="HostSearchOutcome.Missing"/>). A cancelled search is dropped at once.
    /// </summary>
    public Task<HostSearchOutcome> SearchAsync(string query, SearchOptions options, string indexVersion, CatalogSnapshot catalog, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        Enqueue(new SearchJob(query, options, indexVersion, catalog, Stopwatch.GetTimestamp() + (long)(Math.Max(0, timeout.TotalSeconds) * Stopwatch.Frequency)), cancellationToken);

    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _ingest.Writer.TryComplete();
        _thread?.Join(TimeSpan.FromSeconds(10));
        _ingestThread?.Join(TimeSpan.FromSeconds(10));
        _scorer?.Dispose();
        _model?.Dispose();
    }

    private Task<T> Enqueue<T>(Job<T> job, CancellationToken cancellationToken)
    {
        if (!Enabled)
        {
            return Task.FromException<T>(NotAModelSilo());
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(cancellationToken);
        }

        if (cancellationToken.CanBeCanceled)
        {
            // The caller gets its answer at once; the threads skip a job that is already done when they reach it.
            var registration = cancellationToken.Register(() => job.Completion.TrySetCanceled(cancellationToken));
            job.Completion.Task.ContinueWith(_ => registration.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        if (!(job is TokenizeJob tokenize ? _ingest.Writer.TryWrite(tokenize) : _queue.Writer.TryWrite(job)))
        {
            return Task.FromException<T>(new AvgException("The model host is shutting down."));
        }

        return job.Completion.Task;
    }

    private AvgException NotAModelSilo() =>
        new($"This silo has roles '{_options.Roles}' and hosts no model; model work is placed on silos with the model role.");

    private void Run()
    {
        try
        {
            var clock = Stopwatch.StartNew();
            _model = AvgModel.Load(_options.Bundle!, _options.Device, _options.EffectiveThreads);
            // TorchSharp counts tensors created less disposed, over all threads: what a leak would raise.
            _metrics.ObserveLiveTensorsWith(static () => TorchSharp.torch.Tensor.TotalCount);
            _scorer = new GeneratorScorer(_model.Generator);
            var preset = SearchPresets.Parse(_options.Preset, "Avg__Preset");
            _prior = _model.SearchPrior(_options.PriorWeight, preset);
            if (_options.PriorWeight is null && preset.PriorWeight() > 0 && _model.VokenPriorUnavailable is { } noPrior)
            {
                Log.NoVokenPrior(_logger, noPrior);
            }

            _ranker = _options.CollisionWeight > 0 && _model.CollisionRankingUnavailable is null ? _model.CreateCollisionRanker() : null;
            if (_options.CollisionWeight > 0 && _model.CollisionRankingUnavailable is { } why)
            {
                Log.NoCollisionRanking(_logger, why);
            }

            var info = new BundleInfo
            {
                IndexVersion = _model.Bundle.Manifest.BundleId!,
                FeatureWidth = _model.Tokenizer.Options.InputDim,
                ImageSize = _model.Config.ImageSize,
                Depth = _model.Tokenizer.Options.Levels,
                VocabularySize = _model.Tokenizer.Options.CodebookSize,
                AcceptsImages = _model.AcceptsImages,
                Device = _model.Device.ToString(),
                FineLevels = _model.Fine?.Levels ?? 0,
            };
            Log.BundleLoaded(_logger, _options.Bundle!, info.IndexVersion, info.Device, clock.Elapsed.TotalSeconds);
            _ready.SetResult(info);
        }
        catch (Exception e)
        {
            Log.BundleFailed(_logger, _options.Bundle!, e.Message);
            _ready.SetException(e is AvgException ? e : new AvgException($"Model bundle {_options.Bundle} could not be loaded: {e.Message}", e));
            FailQueued(e);
            return;
        }

        // Every turn runs all waiting searches, batched; ingest has its own thread (RunIngest).
        var searches = new List<SearchJob>();
        while (true)
        {
            while (_queue.Reader.TryRead(out var job))
            {
                if (!job.IsDone)
                {
                    searches.Add((SearchJob)job);
                }
            }

            if (searches.Count == 0)
            {
                // A dedicated thread, so waiting here blocks nothing else.
                if (!_queue.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
                {
                    return;
                }

                continue;
            }

            foreach (var group in searches.GroupBy(j => (j.Catalog, j.IndexVersion, j.Options.Beam, Widths: string.Join(',', j.Options.LevelBeams ?? []), j.Options.Normalization)))
            {
                foreach (var chunk in group.Chunk(_options.MaxBatch))
                {
                    RunSearch(chunk);
                }
            }

            searches.Clear();
        }
    }

    /// <summary>
    /// The ingest thread: at a lower OS priority than the inference thread, so that with the cores busy the kernel
    /// runs searches first (docs/cluster.md, "Model host"); each pass tokenizes the waiting batches, up to
    /// <see cref="IngestChunkImages"/> images.
    /// </summary>
    private void RunIngest()
    {
        if (_options.IngestNice > 0 && !ThreadNiceness.TryLowerCurrent(_options.IngestNice, out var reason))
        {
            Log.IngestPriorityKept(_logger, _options.IngestNice, reason ?? "");
        }

        try
        {
            _ready.Task.GetAwaiter().GetResult();
        }
        catch (Exception)
        {
            // Run has failed the queues with the reason.
            return;
        }

        var ingest = new Queue<TokenizeJob>();
        while (true)
        {
            while (_ingest.Reader.TryRead(out var job))
            {
                if (!job.IsDone)
                {
                    ingest.Enqueue(job);
                }
            }

            if (ingest.Count == 0)
            {
                // A dedicated thread, so waiting here blocks nothing else.
                if (!_ingest.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
                {
                    return;
                }

                continue;
            }

            var chunkJobs = new List<TokenizeJob>();
            var images = 0;
            while (ingest.Count > 0 && (chunkJobs.Count == 0 || images + ingest.Peek().Count <= IngestChunkImages))
            {
                var next = ingest.Dequeue();
                chunkJobs.Add(next);
                images += next.Count;
            }

            RunTokenize(chunkJobs.Where(j => j.Features is not null).ToList(), images: false);
            RunTokenize(chunkJobs.Where(j => j.Pixels is not null).ToList(), images: true);
        }
    }

    private void RunTokenize(List<TokenizeJob> jobs, bool images)
    {
        if (jobs.Count == 0)
        {
            return;
        }

        try
        {
            var model = _model!;
            var total = jobs.Sum(j => j.Count);
            float[] vectors;
            if (images)
            {
                var size = model.Config.ImageSize;
                var pixels = Concat(jobs.SelectMany(j => j.Pixels!).ToList(), ImageData.Channels * size * size * total);
                vectors = model.EncodeImages(ImageData.FromBytes(pixels, total, size, size));
            }
            else
            {
                vectors = Concat(jobs.SelectMany(j => j.Features!).ToList(), model.Tokenizer.Options.InputDim * total);
            }

            var vokens = model.Tokenize(vectors);
            var fine = model.FineCodes(vectors, vokens);
            var levels = model.Fine?.Levels ?? 0;

            _metrics.RecordModelBatch(AvgMetrics.IngestBatch, jobs.Count);
            var depth = model.Tokenizer.Options.Levels;
            var at = 0;
            foreach (var job in jobs)
            {
                job.Completion.TrySetResult(new TokenizedImages(vokens.AsSpan(at * depth, job.Count * depth).ToArray(), fine.AsSpan(at * levels, job.Count * levels).ToArray(), levels));
                at += job.Count;
            }
        }
        catch (Exception e)
        {
            foreach (var job in jobs)
            {
                job.Completion.TrySetException(e);
            }
        }
    }

    private void RunSearch(SearchJob[] all)
    {
        var jobs = all.Where(j => !j.IsDone).ToArray();
        if (jobs.Length == 0)
        {
            return;
        }

        try
        {
            var clock = Stopwatch.StartNew();
            var started = Stopwatch.GetTimestamp();
            var model = _model!;
            var first = jobs[0];
            var source = first.Source?.Again() ?? _cache.CreateSource(first.IndexVersion, first.Catalog, model.Tokenizer.Options.CodebookSize);
            source.PastDeadline = started >= jobs.Min(j => j.Deadline);
            foreach (var job in jobs)
            {
                job.Source = source;
            }

            var view = new PartitionedVokenTrie(model.Tokenizer.Options.Levels, model.Tokenizer.Options.CodebookSize, first.Catalog.FirstVokens, source);
            var k = jobs.Max(j => j.Options.K);
            var options = first.Options with { K = k, Prior = _prior, CollisionWeight = _ranker is null ? null : _options.CollisionWeight };
            var search = new ConstrainedBeamSearch(view, options);
            var queries = jobs.Select(j => j.Query).ToArray();
            _scorer!.Prepare(model.Vocabulary.EncodeMany(queries), jobs.Length);
            var scorer = new StepCountingScorer(_scorer);
            var hits = search.Search(scorer, jobs.Length);
            if (_ranker is not null)
            {
                // Second score within collisions: the leaves' images ranked by the query's similarity to their fine codes.
                _ranker.Prepare(model.EncodeTexts(queries));
                for (var q = 0; q < hits.Length; q++)
                {
                    hits[q] = _ranker.Rank(q, hits[q], source, _options.CollisionWeight, k);
                }
            }
            _metrics.RecordModelBatch(AvgMetrics.QueryBatch, jobs.Length);
            _metrics.RecordBeamSteps(scorer.Steps);
            var elapsed = clock.Elapsed.TotalMilliseconds;
            Interlocked.Increment(ref _forwardBatches);
            Interlocked.Add(ref _searches, jobs.Length);
            var (missing, stale) = (source.Missing, source.Stale);
            for (var q = 0; q < jobs.Length; q++)
            {
                var waited = Stopwatch.GetElapsedTime(jobs[q].Queued, started).TotalMilliseconds;
                jobs[q].Completion.TrySetResult(new HostSearchOutcome(hits[q].Take(jobs[q].Options.K).ToArray(), source, elapsed, jobs.Length, waited, missing, stale));
            }
        }
        catch (PartitionsPendingException pending)
        {
            // Set aside until its own partitions are here, or its deadline; the inference thread goes on with other work.
            var left = TimeSpan.FromSeconds(Math.Max(0, jobs.Min(j => j.Deadline) - Stopwatch.GetTimestamp()) / (double)Stopwatch.Frequency);
            Task.WhenAny(pending.Pending, Task.Delay(left)).ContinueWith(
                _ => Requeue(jobs),
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
        catch (PartitionsUnavailableException unavailable)
        {
            // No answer by the deadline (or a failed fetch) and no copy held: the same search without those partitions.
            var reduced = jobs[0].Catalog.Without(unavailable.FirstVokens);
            if (reduced.FirstVokens.Length == 0)
            {
                foreach (var job in jobs)
                {
                    job.Fail(new TimeoutException($"No partition of the index answered within {_options.QueryTimeoutMs} ms (Avg__QueryTimeoutMs) and this silo holds no copy of any; retry."));
                }

                return;
            }

            foreach (var job in jobs)
            {
                job.Catalog = reduced;
            }

            Requeue(jobs);
        }
        catch (Exception e)
        {
            foreach (var job in jobs)
            {
                job.Completion.TrySetException(e);
            }
        }
    }

    private void Requeue(SearchJob[] jobs)
    {
        foreach (var job in jobs)
        {
            if (!job.IsDone && !_queue.Writer.TryWrite(job))
            {
                job.Fail(new AvgException("The model host is shutting down."));
            }
        }
    }

    private static T[] Concat<T>(List<T[]> parts, int length)
    {
        if (parts is [var only] && only.Length == length)
        {
            return only;
        }

        var result = new T[length];
        var at = 0;
        foreach (var part in parts)
        {
            if (at + part.Length > length)
            {
                throw new AvgException($"Model input has {at + part.Length}+ values, expected {length}: an item has the wrong size.");
            }

            part.CopyTo(result, at);
            at += part.Length;
        }

        if (at != length)
        {
            throw new AvgException($"Model input has {at} values, expected {length}: an item has the wrong size.");
        }

        return result;
    }

    private void FailQueued(Exception e)
    {
        _queue.Writer.TryComplete();
        _ingest.Writer.TryComplete();
        while (_queue.Reader.TryRead(out var job))
        {
            job.Fail(e);
        }

        while (_ingest.Reader.TryRead(out var job))
        {
            job.Fail(e);
        }
    }

    private abstract class Job
    {
        /// <summary>Answered, failed or cancelled: the threads skip it.</summary>
        public abstract bool IsDone { get; }

        public abstract void Fail(Exception e);
    }

    private abstract class Job<T> : Job
    {
        public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override bool IsDone => Completion.Task.IsCompleted;

        public override void Fail(Exception e) => Completion.TrySetException(e);
    }

    private sealed class TokenizeJob(IReadOnlyList<float[]>? features, IReadOnlyList<byte[]>? pixels, int count) : Job<TokenizedImages>
    {
        /// <summary>The feature vectors, in parts (one per image, or one for the whole batch).</summary>
        public IReadOnlyList<float[]>? Features { get; } = features;

        /// <summary>The pixels, in parts as <see cref="Features"/>.</summary>
        public IReadOnlyList<byte[]>? Pixels { get; } = pixels;

        public int Count { get; } = count;
    }

    private sealed class SearchJob(string query, SearchOptions options, string indexVersion, CatalogSnapshot catalog, long deadline) : Job<HostSearchOutcome>
    {
        public string Query { get; } = query;

        public SearchOptions Options { get; } = options;

        public string IndexVersion { get; } = indexVersion;

        /// <summary>The partitions searched: the catalog read, less the ones that did not answer by the deadline.</summary>
        public CatalogSnapshot Catalog { get; set; } = catalog;

        /// <summary><see cref="Stopwatch.GetTimestamp"/> after which missing partitions are read from older copies or left out.</summary>
        public long Deadline { get; } = deadline;

        /// <summary>When it was queued (<see cref="Stopwatch.GetTimestamp"/>).</summary>
        public long Queued { get; } = Stopwatch.GetTimestamp();

        /// <summary>The partitions of an earlier attempt that was set aside while they were fetched.</summary>
        public PartitionSource? Source { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Model bundle {Bundle} loaded (index version {IndexVersion}, device {Device}) in {Seconds:F1}s")]
        public static partial void BundleLoaded(ILogger logger, string bundle, string indexVersion, string device, double seconds);

        [LoggerMessage(2, LogLevel.Error, "Model bundle {Bundle} could not be loaded: {Reason}")]
        public static partial void BundleFailed(ILogger logger, string bundle, string reason);

        [LoggerMessage(3, LogLevel.Warning, "Ingest runs at the inference thread's priority: lowering it to nice {Nice} failed ({Reason}); queries may wait for the CPU during ingest")]
        public static partial void IngestPriorityKept(ILogger logger, int nice, string reason);

        [LoggerMessage(4, LogLevel.Warning, "Searches rank images that share a voken sequence by the generator score alone: {Reason}")]
        public static partial void NoCollisionRanking(ILogger logger, string reason);

        [LoggerMessage(5, LogLevel.Warning, "Searches rank by the paper's score, without dividing out the train voken frequencies: {Reason}")]
        public static partial void NoVokenPrior(ILogger logger, string reason);
    }
}
