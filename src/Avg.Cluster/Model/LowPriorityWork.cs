using System.Threading.Channels;
using Avg.Cluster.Hosting;
using Microsoft.Extensions.Options;

namespace Avg.Cluster.Model;

/// <summary>
/// A thread at ingest priority (<see cref="AvgSiloOptions.IngestNice"/>) for the CPU-heavy steps of ingest that are not
/// the model's: parsing an ingest body, encoding a partition's compacted base. Grain turns and HTTP requests share the
/// thread pool's one queue with queries; work moved here no longer delays a query's turns, and with the cores busy
/// the kernel runs the thread pool first (docs/cluster.md, "Queries during ingest").
/// </summary>
public sealed class LowPriorityWork : IDisposable
{
    private readonly Channel<Action> _queue = Channel.CreateUnbounded<Action>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Thread _thread;
    private readonly int _nice;

    public LowPriorityWork(IOptions<AvgSiloOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _nice = options.Value.IngestNice;
        _thread = new Thread(Run) { IsBackground = true, Name = "avg-ingest-cpu" };
        _thread.Start();
    }

    /// <summary>Runs <paramref name="work"/> on the low-priority thread; its exception, if any, comes back through the task.</summary>
    public Task<T> RunAsync<T>(Func<T> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Step()
        {
            try
            {
                done.SetResult(work());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        }

        if (!_queue.Writer.TryWrite(Step))
        {
            // Shutting down: the caller's own thread does it.
            Step();
        }

        return done.Task;
    }

    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _thread.Join(TimeSpan.FromSeconds(5));
    }

    private void Run()
    {
        // Best effort: where the OS refuses, the work still runs, at normal priority (ModelHost logs the refusal).
        if (_nice > 0)
        {
            ThreadNiceness.TryLowerCurrent(_nice, out _);
        }

        var reader = _queue.Reader;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            while (reader.TryRead(out var step))
            {
                step();
            }
        }
    }
}
