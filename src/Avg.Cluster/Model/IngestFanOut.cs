using Avg.Cluster.Hosting;
using Microsoft.Extensions.Options;

namespace Avg.Cluster.Model;

/// <summary>
/// Bounds the directory and partition calls of ingest in flight on a silo (<see cref="AvgSiloOptions.IngestFanOut"/>),
/// so that ingest turns queued on the thread pool stay few and a query's own turns are not queued behind them; and
/// holds each call while searches are in progress, up to <see cref="AvgSiloOptions.IngestHoldMs"/> (<see cref="SearchActivity"/>).
/// </summary>
public sealed class IngestFanOut(IOptions<AvgSiloOptions> options, SearchActivity searches) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(options.Value.IngestFanOut, options.Value.IngestFanOut);
    private readonly TimeSpan _hold = TimeSpan.FromMilliseconds(options.Value.IngestHoldMs);

    /// <summary>Runs one ingest call when a slot is free (none is taken once <paramref name="cancellationToken"/> is cancelled).</summary>
    public async Task<T> RunAsync<T>(Func<Task<T>> call, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(call);
        await _slots.WaitAsync(cancellationToken);
        try
        {
            await searches.WhenQuietAsync(_hold, cancellationToken);
            return await call();
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>Runs one ingest call that returns nothing when a slot is free.</summary>
    public Task RunAsync(Func<Task> call, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(call);
        return RunAsync(
            async () =>
            {
                await call();
                return true;
            },
            cancellationToken);
    }

    public void Dispose() => _slots.Dispose();
}
