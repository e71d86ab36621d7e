using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;

namespace Avg.Silo.Http;

/// <summary>
/// Makes a client that closes its connection while a request runs (what HttpClient, curl and proxies do when they
/// give up) abort that request: <c>HttpContext.RequestAborted</c> fires, and the search or ingest stops on the silo.
/// Kestrel reads an HTTP/1.1 connection again only after the response, so on its own it would not see the close and
/// would run an abandoned request to its end (HTTP/2 has stream resets for this). A connection middleware reads the
/// socket ahead of Kestrel and notes the close in a connection feature; a request middleware aborts the request on it.
/// </summary>
public static class ClientCloseDetection
{
    /// <summary>
    /// Kestrel connection middleware (<c>ListenOptions.Use</c>) that reads at most <paramref name="maxBufferedBytes"/>
    /// ahead of Kestrel. That must exceed the largest accepted body: a body refused as too large while Kestrel reads it
    /// is drained through this buffer, and with a smaller one the two would wait on each other until the connection
    /// timed out (the client would see a reset instead of the 413).
    /// </summary>
    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware(long maxBufferedBytes) => next => async connection =>
    {
        var original = connection.Transport;
        var ahead = new Pipe(new PipeOptions(pauseWriterThreshold: maxBufferedBytes, resumeWriterThreshold: maxBufferedBytes / 2));
        using var closed = new CancellationTokenSource();
        connection.Features.Set(new ClientClosedFeature(closed.Token));
        var pump = PumpAsync(original.Input, ahead.Writer, closed);
        connection.Transport = new DuplexPipe(ahead.Reader, original.Output);
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            original.Input.CancelPendingRead();
            await pump.ConfigureAwait(false);
            connection.Transport = original;
        }
    };

    /// <summary>
    /// Request middleware: <c>HttpContext.RequestAborted</c> also fires when the client has closed the connection (as
    /// the request-timeouts middleware does, it replaces the token by one linked to Kestrel's own).
    /// </summary>
    public static async Task AbortOnClientCloseAsync(HttpContext context, RequestDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        if (context.Features.Get<ClientClosedFeature>() is not { } feature)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var kestrel = context.RequestAborted;
        using var aborted = CancellationTokenSource.CreateLinkedTokenSource(kestrel, feature.Closed);
        context.RequestAborted = aborted.Token;
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            context.RequestAborted = kestrel;
        }
    }

    /// <summary>Copies what the client sends to Kestrel; when the client closes its side, says so.</summary>
    private static async Task PumpAsync(PipeReader from, PipeWriter to, CancellationTokenSource closed)
    {
        try
        {
            while (true)
            {
                var result = await from.ReadAsync().ConfigureAwait(false);
                foreach (var segment in result.Buffer)
                {
                    await to.WriteAsync(segment).ConfigureAwait(false);
                }

                from.AdvanceTo(result.Buffer.End);
                if (result.IsCanceled)
                {
                    break;
                }

                if (result.IsCompleted)
                {
                    await closed.CancelAsync().ConfigureAwait(false);
                    break;
                }
            }

            await to.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ConnectionResetException or ConnectionAbortedException or InvalidOperationException or ObjectDisposedException)
        {
            await closed.CancelAsync().ConfigureAwait(false);
            await to.CompleteAsync(e).ConfigureAwait(false);
        }
    }

    /// <summary>On a connection: cancelled once the client has closed it.</summary>
    private sealed record ClientClosedFeature(CancellationToken Closed);

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
