using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace Avg.Silo.Http;

/// <summary>
/// Notices an HTTP/1.1 client that closes its connection while its request runs (what HttpClient, curl and proxies do
/// when they give up), so the search or ingest stops on the silo. Kestrel reads an HTTP/1.1 connection again only after
/// the response, so on its own it does not see the close (<c>RequestAborted</c> fires for a reset or an HTTP/2 stream
/// reset, not for a FIN). Once the request body has been read, Kestrel does not read the connection until the handler
/// returns: a watch then peeks at the connection's input every <see cref="Interval"/> without consuming it, and fires
/// when the client has closed its side with nothing more sent.
/// </summary>
public static class ClientCloseDetection
{
    /// <summary>How often a watch looks at the connection.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// A token cancelled by <c>RequestAborted</c> or by the client closing the connection. Call once the request body has
    /// been read; dispose the watch before the response is written (the handler's end).
    /// </summary>
    public static ClientCloseWatch Watch(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var input = HttpProtocol.IsHttp11(context.Request.Protocol) || HttpProtocol.IsHttp10(context.Request.Protocol)
            ? context.Features.Get<IConnectionTransportFeature>()?.Transport.Input
            : null;
        return new ClientCloseWatch(input, context.RequestAborted);
    }
}

/// <summary>One request's watch on its connection (see <see cref="ClientCloseDetection"/>).</summary>
public sealed class ClientCloseWatch : IDisposable
{
    private readonly CancellationTokenSource _closed;
    private readonly System.IO.Pipelines.PipeReader? _input;
    private readonly Timer? _timer;
    private readonly Lock _gate = new();
    private bool _done;

    internal ClientCloseWatch(System.IO.Pipelines.PipeReader? input, CancellationToken requestAborted)
    {
        _closed = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        _input = input;
        _timer = input is null ? null : new Timer(_ => Look(), null, ClientCloseDetection.Interval, ClientCloseDetection.Interval);
    }

    /// <summary>Cancelled when the request is aborted or its client has closed the connection.</summary>
    public CancellationToken Token => _closed.Token;

    public void Dispose()
    {
        lock (_gate)
        {
            // After this no look touches the connection: Kestrel reads it again once the handler has returned.
            _done = true;
        }

        _timer?.Dispose();
        _closed.Dispose();
    }

    private void Look()
    {
        var closed = false;
        lock (_gate)
        {
            if (_done || _closed.IsCancellationRequested)
            {
                return;
            }

            try
            {
                if (_input!.TryRead(out var result))
                {
                    closed = result.IsCompleted && result.Buffer.IsEmpty;
                    _input.AdvanceTo(result.Buffer.Start, result.Buffer.Start); // consume and examine nothing
                }
            }
            catch (InvalidOperationException)
            {
                // Kestrel is reading the connection after all: stop looking.
                _done = true;
            }
        }

        if (closed)
        {
            _closed.Cancel();
        }
    }
}
