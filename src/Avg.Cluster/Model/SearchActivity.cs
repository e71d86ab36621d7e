namespace Avg.Cluster.Model;

/// <summary>
/// The searches a silo's model host is answering, and a short hold for ingest while there are any
/// (<see cref="Hosting.AvgSiloOptions.IngestHoldMs"/>; docs/cluster.md, "Queries during ingest"): an ingest call about
/// to start waits until no search is in progress, or the hold has passed, so a search does not share the cores with
/// the ingest turns that would have started beside it. Ingest calls already running are not stopped; with searches
/// back to back, ingest goes on at least one call per hold.
/// </summary>
public sealed class SearchActivity
{
    private readonly Lock _gate = new();
    private int _active;
    private TaskCompletionSource? _quiet;

    /// <summary>Searches in progress.</summary>
    public int Active
    {
        get
        {
            lock (_gate)
            {
                return _active;
            }
        }
    }

    /// <summary>A search starts; <see cref="End"/> when it is answered, failed or cancelled.</summary>
    public void Begin()
    {
        lock (_gate)
        {
            _active++;
        }
    }

    public void End()
    {
        TaskCompletionSource? quiet = null;
        lock (_gate)
        {
            if (--_active == 0)
            {
                (quiet, _quiet) = (_quiet, null);
            }
        }

        quiet?.TrySetResult();
    }

    /// <summary>Completes when no search is in progress, or after <paramref name="hold"/> (at once when it is zero).</summary>
    public Task WhenQuietAsync(TimeSpan hold, CancellationToken cancellationToken = default)
    {
        if (hold <= TimeSpan.Zero)
        {
            return Task.CompletedTask;
        }

        Task quiet;
        lock (_gate)
        {
            if (_active == 0)
            {
                return Task.CompletedTask;
            }

            _quiet ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            quiet = _quiet.Task;
        }

        return Task.WhenAny(quiet, Task.Delay(hold, cancellationToken));
    }
}
