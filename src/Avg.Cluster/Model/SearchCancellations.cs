using System.Collections.Concurrent;

namespace Avg.Cluster.Model;

/// <summary>
/// The searches running on this silo by request id, so that <see cref="IQueryGrain.Cancel"/> stops one whichever
/// stateless-worker activation it reaches (Orleans delivers a cancellation token's signal to one activation, which
/// may not be the one running the search).
/// </summary>
public sealed class SearchCancellations
{
    private readonly ConcurrentDictionary<Guid, CancellationTokenSource> _running = new();

    /// <summary>A token cancelled by <paramref name="callerToken"/> or by <see cref="Cancel"/> of <paramref name="requestId"/>; dispose it when the search ends.</summary>
    public Registration Register(Guid requestId, CancellationToken callerToken)
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(callerToken);
        if (requestId != Guid.Empty)
        {
            _running[requestId] = source;
        }

        return new Registration(this, requestId, source);
    }

    /// <summary>Cancels the search of <paramref name="requestId"/> if it runs here; false otherwise.</summary>
    public bool Cancel(Guid requestId)
    {
        if (!_running.TryGetValue(requestId, out var source))
        {
            return false;
        }

        try
        {
            source.Cancel();
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>One search's cancellation; disposing it forgets the search.</summary>
    public readonly struct Registration(SearchCancellations owner, Guid requestId, CancellationTokenSource source) : IDisposable
    {
        public CancellationToken Token => source.Token;

        public void Dispose()
        {
            if (requestId != Guid.Empty)
            {
                owner._running.TryRemove(new KeyValuePair<Guid, CancellationTokenSource>(requestId, source));
            }

            source.Dispose();
        }
    }
}
