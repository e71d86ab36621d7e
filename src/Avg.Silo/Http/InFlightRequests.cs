using Microsoft.AspNetCore.Http;

namespace Avg.Silo.Http;

/// <summary>Requests being answered now; shutdown without Redis waits for them to finish before the process exits.</summary>
public sealed class InFlightRequests
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public async Task TrackAsync(HttpContext context, RequestDelegate next)
    {
        ArgumentNullException.ThrowIfNull(next);
        Interlocked.Increment(ref _count);
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _count);
        }
    }
}
