namespace Avg.Tests.Support;

/// <summary>Counts the attempts a client really sends, whether or not the server got to handle them before the client gave up.</summary>
public sealed class CountingHandler() : DelegatingHandler(new SocketsHttpHandler())
{
    private int attempts;

    public int Attempts => Volatile.Read(ref attempts);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref attempts);
        return base.SendAsync(request, cancellationToken);
    }
}
