using System.Diagnostics;
using Avg.Cluster.Hosting;
using Avg.Cluster.Model;
using Avg.Cluster.Telemetry;
using Avg.Models.Pipeline;
using Avg.Retrieval;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Avg.Cluster.Inference;

/// <summary>
/// The one model of a silo: loads the bundle once and runs every TorchSharp call on two threads of its own, each fed by
/// an <see cref="InferenceQueue{TJob}"/>: searches on the inference thread, ingest (encoder and tokenizer) on an ingest
/// thread at a lower OS priority (<see cref="AvgSiloOptions.IngestNice"/>), so a query never waits behind ingest and the
/// kernel runs it first when the cores are busy. The two use different modules (generator; encoder and tokenizer).
/// Requests that arrive while a thread is busy are batched (<see cref="InferenceBatching"/>): image batches from all
/// shards into one encoder and tokenizer pass, concurrent queries over the same catalog into one generator pass per
/// beam-search step, run by the <see cref="SearchExecutor"/> the in-process search uses too. Callers (grains) only
/// await; nothing blocks the Orleans scheduler, and dispose scopes never span an await.
/// </summary>
public sealed partial class ModelHost : IModelHost, IHostedService, IDisposable
{
    private readonly AvgSiloOptions _options;
    private readonly PartitionCache _cache;
    private readonly ILogger<ModelHost> _logger;
    private readonly InferenceQueue<SearchJob> _searches;
    private readonly InferenceQueue<TokenizeJob> _ingest;
    private readonly TaskCompletionSource<BundleInfo> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private AvgModel? _model;
    private SearchExecutor? _executor;
    private IngestTokenizer? _tokenizer;
    private VokenPrior? _prior;
    private double? _collisionWeight;

    private long _forwardBatches;
    private long _searchCount;

    public ModelHost(IOptions<AvgSiloOptions> options, PartitionCache cache, ILogger<ModelHost> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _cache = cache;
        _logger = logger;
        _searches = new InferenceQueue<SearchJob>("avg-inference", waiting => InferenceBatching.Searches(waiting, _options.MaxBatch), RunSearch);
        _ingest = new InferenceQueue<TokenizeJob>("avg-ingest", waiting => InferenceBatching.Ingest(waiting), RunTokenize);
    }

    /// <summary>False on silos without the model role: they never load a bundle.</summary>
    public bool Enabled => _options.HasModel;

    /// <summary>Completes with the bundle's facts once it is loaded; faults with the reason when it cannot be.</summary>
    public Task<BundleInfo> Ready => Enabled ? _ready.Task : Task.FromException<BundleInfo>(AbsentModelHost.NotAModelSilo(_options.Roles));

    public bool IsReady => _ready.Task.IsCompletedSuccessfully;

    /// <summary>
    /// Raised on the model's thread after each forward pass that answered its requests: searches (with their beam-search
    /// steps) or ingest batches. The silo's meter listens (<see cref="AvgModelSiloExtensions.AddAvgModelSilo"/>), so the
    /// host itself holds no telemetry. A listener must return at once.
    /// </summary>
    public event Action<ModelBatchRun>? BatchRan;

    /// <summary>Generator batches run (each may hold several queries) and queries answered.</summary>
    public (long Batches, long Searches) SearchCounters => (Interlocked.Read(ref _forwardBatches), Interlocked.Read(ref _searchCount));

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!Enabled)
        {
            return Task.CompletedTask;
        }

        _searches.Start(LoadBundle);
        _ingest.Start(PrepareIngestThread);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _searches.Close();
        _ingest.Close();
        return Task.CompletedTask;
    }

    /// <summary>Identifiers of feature vectors given as one array of <paramref name="count"/> rows of the bundle's width.</summary>
    public Task<TokenizedImages> TokenizeFeaturesAsync(float[] rows, int count, CancellationToken cancellationToken = default) =>
        Post(new TokenizeJob([rows], null, count), cancellationToken);

    /// <inheritdoc/>
    /// <remarks>The rows are copied once, into the model's input, instead of into a batch array first (a large-object-heap array per batch).</remarks>
    public Task<TokenizedImages> TokenizeFeaturesAsync(IReadOnlyList<float[]> rows, CancellationToken cancellationToken = default) =>
        Post(new TokenizeJob(rows, null, rows.Count), cancellationToken);

    /// <inheritdoc/>
    public Task<TokenizedImages> TokenizeImagesAsync(IReadOnlyList<byte[]> pixels, CancellationToken cancellationToken = default) =>
        Post(new TokenizeJob(null, pixels, pixels.Count), cancellationToken);

    /// <inheritdoc/>
    public Task<HostSearchOutcome> SearchAsync(string query, SearchOptions options, string indexVersion, CatalogSnapshot catalog, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        Post(new SearchJob(query, options, indexVersion, catalog, Stopwatch.GetTimestamp() + (long)(Math.Max(0, timeout.TotalSeconds) * Stopwatch.Frequency)), cancellationToken);

    public void Dispose()
    {
        _searches.Close();
        _ingest.Close();
        _searches.Join(TimeSpan.FromSeconds(10));
        _ingest.Join(TimeSpan.FromSeconds(10));
        _executor?.Dispose();
        _model?.Dispose();
    }

    private Task<HostSearchOutcome> Post(SearchJob job, CancellationToken cancellationToken) => Post(job, () => _searches.Post(job), cancellationToken);

    private Task<TokenizedImages> Post(TokenizeJob job, CancellationToken cancellationToken) => Post(job, () => _ingest.Post(job), cancellationToken);

    private Task<T> Post<T>(InferenceJob<T> job, Func<bool> enqueue, CancellationToken cancellationToken)
    {
        if (!Enabled)
        {
            return Task.FromException<T>(AbsentModelHost.NotAModelSilo(_options.Roles));
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(cancellationToken);
        }

        var answer = job.AwaitedBy(cancellationToken);
        return enqueue() ? answer : Task.FromException<T>(new AvgException("The model host is shutting down."));
    }

    /// <summary>On the inference thread, before it serves searches: loads the bundle; on failure, fails every queued job with the reason.</summary>
    private bool LoadBundle()
    {
        try
        {
            var clock = Stopwatch.StartNew();
            _model = AvgModel.Load(_options.Bundle!, _options.Device, _options.EffectiveThreads);
            _executor = new SearchExecutor(_model);
            _tokenizer = new IngestTokenizer(_model, jobs => BatchRan?.Invoke(new ModelBatchRun(ModelWork.Ingest, jobs, 0)));
            var preset = SearchPresets.Parse(_options.Preset, "Avg__Preset");
            _prior = _model.SearchPrior(_options.PriorWeight, preset);
            if (_options.PriorWeight is null && preset.PriorWeight() > 0 && _model.VokenPriorUnavailable is { } noPrior)
            {
                Log.NoVokenPrior(_logger, noPrior);
            }

            // Avg__CollisionWeight where set, else the bundle's recorded default (docs/design.md §1.7).
            var defaults = _model.Config.SearchOrStandard;
            var collisionWeight = _options.CollisionWeight ?? defaults.CollisionWeight;
            var rankWithinCollisions = collisionWeight > 0 && _model.CollisionRankingUnavailable is null;
            _collisionWeight = rankWithinCollisions ? collisionWeight : null;
            if (collisionWeight > 0 && _model.CollisionRankingUnavailable is { } why)
            {
                Log.NoCollisionRanking(_logger, why);
            }

            var info = new BundleInfo
            {
                IndexVersion = _model.Bundle.Manifest.BundleId!,
                FeatureWidth = _model.Tokenizer.Options.InputDim,
                ImageSize = _model.Config.ImageSize,
                Levels = _model.Tokenizer.Options.Levels,
                CodebookSize = _model.Tokenizer.Options.CodebookSize,
                AcceptsImages = _model.AcceptsImages,
                Device = _model.Device.ToString(),
                FineLevels = _model.Fine?.Levels ?? 0,
                DefaultBeam = defaults.Beam,
            };
            Log.BundleLoaded(_logger, _options.Bundle!, info.IndexVersion, info.Device, clock.Elapsed.TotalSeconds, info.DefaultBeam, _collisionWeight ?? 0);
            _ready.SetResult(info);
            return true;
        }
        catch (Exception e)
        {
            Log.BundleFailed(_logger, _options.Bundle!, e.Message);
            _ready.SetException(e is AvgException ? e : new AvgException($"Model bundle {_options.Bundle} could not be loaded: {e.Message}", e));
            _searches.FailWaiting(e);
            _ingest.FailWaiting(e);
            return false;
        }
    }

    /// <summary>
    /// On the ingest thread, before it serves: lowers its priority below the inference thread's, so that with the cores
    /// busy the kernel runs searches first (docs/cluster.md, "Model host"), and waits for the bundle.
    /// </summary>
    private bool PrepareIngestThread()
    {
        if (_options.IngestNice > 0 && !ThreadNiceness.TryLowerCurrent(_options.IngestNice, out var reason))
        {
            Log.IngestPriorityKept(_logger, _options.IngestNice, reason ?? "");
        }

        try
        {
            _ready.Task.GetAwaiter().GetResult();
            return true;
        }
        catch (Exception)
        {
            // LoadBundle has failed the queues with the reason.
            return false;
        }
    }

    private void RunTokenize(TokenizeJob[] batch) => _tokenizer!.Run(batch);

    private void RunSearch(SearchJob[] batch)
    {
        var jobs = batch.Where(j => !j.IsDone).ToArray();
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
            var options = first.Options with { K = k, Prior = _prior, CollisionWeight = _collisionWeight };
            StepCountingScorer? steps = null;
            var hits = _executor!.Search(view, options, jobs.Select(j => j.Query).ToArray(), source, scorer => steps = new StepCountingScorer(scorer));
            BatchRan?.Invoke(new ModelBatchRun(ModelWork.Search, jobs.Length, steps?.Steps ?? 0));
            var elapsed = clock.Elapsed.TotalMilliseconds;
            Interlocked.Increment(ref _forwardBatches);
            Interlocked.Add(ref _searchCount, jobs.Length);
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
            if (!job.IsDone && !_searches.Post(job))
            {
                job.Fail(new AvgException("The model host is shutting down."));
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Model bundle {Bundle} loaded (index version {IndexVersion}, device {Device}) in {Seconds:F1}s; searches without a beam use {Beam}, collision weight {CollisionWeight}")]
        public static partial void BundleLoaded(ILogger logger, string bundle, string indexVersion, string device, double seconds, int beam, double collisionWeight);

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
