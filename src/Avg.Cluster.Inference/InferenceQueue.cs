using System.Threading.Channels;

namespace Avg.Cluster.Inference;

/// <summary>Work for an inference thread, answered once: by the thread, by a failure, or by its caller cancelling.</summary>
internal abstract class InferenceJob
{
    /// <summary>Answered, failed or cancelled: the thread skips it.</summary>
    public abstract bool IsDone { get; }

    public abstract void Fail(Exception e);
}

/// <summary>An <see cref="InferenceJob"/> whose answer is a <typeparamref name="T"/>.</summary>
internal abstract class InferenceJob<T> : InferenceJob
{
    public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override bool IsDone => Completion.Task.IsCompleted;

    public override void Fail(Exception e) => Completion.TrySetException(e);

    /// <summary>
    /// The task the caller awaits. A cancelled caller gets its answer at once; the thread skips the job when it reaches it.
    /// </summary>
    public Task<T> AwaitedBy(CancellationToken cancellationToken)
    {
        if (cancellationToken.CanBeCanceled)
        {
            var registration = cancellationToken.Register(() => Completion.TrySetCanceled(cancellationToken));
            Completion.Task.ContinueWith(_ => registration.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return Completion.Task;
    }
}

/// <summary>
/// One dedicated thread fed by a queue: each turn takes every job waiting (skipping those already answered or
/// cancelled), splits them into batches by the batching policy, and runs each batch. Callers only await; the thread
/// blocks nothing but itself while it waits for work. The model host has two: searches, and ingest.
/// </summary>
internal sealed class InferenceQueue<TJob>(string threadName, Func<IReadOnlyList<TJob>, IEnumerable<TJob[]>> batches, Action<TJob[]> run)
    where TJob : InferenceJob
{
    private readonly Channel<TJob> _channel = Channel.CreateUnbounded<TJob>(new UnboundedChannelOptions { SingleReader = true });
    private Thread? _thread;

    /// <summary>
    /// Starts the thread: it runs <paramref name="prepare"/> first (load the bundle, lower its priority) and serves the
    /// queue when that returns true; when it returns false the thread ends and the queue is failed by whoever failed it.
    /// </summary>
    public void Start(Func<bool> prepare)
    {
        _thread = new Thread(() =>
        {
            if (prepare())
            {
                Serve();
            }
        })
        { IsBackground = true, Name = threadName };
        _thread.Start();
    }

    /// <summary>Queues a job; false once the queue is closed (the host is stopping or failed to load).</summary>
    public bool Post(TJob job) => _channel.Writer.TryWrite(job);

    /// <summary>Closes the queue: the thread finishes the jobs taken and ends; later posts are refused.</summary>
    public void Close() => _channel.Writer.TryComplete();

    /// <summary>Closes the queue and fails every job still in it with <paramref name="e"/>.</summary>
    public void FailWaiting(Exception e)
    {
        Close();
        while (_channel.Reader.TryRead(out var job))
        {
            job.Fail(e);
        }
    }

    public void Join(TimeSpan timeout) => _thread?.Join(timeout);

    private void Serve()
    {
        var waiting = new List<TJob>();
        while (true)
        {
            while (_channel.Reader.TryRead(out var job))
            {
                if (!job.IsDone)
                {
                    waiting.Add(job);
                }
            }

            if (waiting.Count == 0)
            {
                // A dedicated thread, so waiting here blocks nothing else.
                if (!_channel.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
                {
                    return;
                }

                continue;
            }

            foreach (var batch in batches(waiting))
            {
                run(batch);
            }

            waiting.Clear();
        }
    }
}
