namespace Avg.Client;

/// <summary>Settings of an <see cref="AvgSearchClient"/>; read once by its constructor, so later changes do not affect it.</summary>
public class AvgSearchClientOptions
{
    /// <summary>Sent as <c>X-Api-Key</c> on every <c>/v1/*</c> request; needed when the silos set <c>Avg__ApiKeys</c>.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Limit on each attempt (sending the request and reading the whole response); a timed-out attempt is retried.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>When and how often failed requests are tried again.</summary>
    public AvgRetryOptions Retry { get; } = new();

    /// <summary>Prepended to the <c>User-Agent</c> header, so server logs show which application called.</summary>
    public string? ApplicationId { get; set; }
}

/// <summary>How the delay between attempts grows.</summary>
public enum AvgRetryMode
{
    /// <summary>The same <see cref="AvgRetryOptions.Delay"/> before every retry.</summary>
    Fixed,

    /// <summary><see cref="AvgRetryOptions.Delay"/> doubled with each retry, with ±20% jitter, up to <see cref="AvgRetryOptions.MaxDelay"/>.</summary>
    Exponential,
}

/// <summary>
/// Retry policy. Retried: 408, 429, 500, 502, 503, 504, connection failures and timed-out attempts; a
/// <c>Retry-After</c> header replaces the computed delay. Every operation of the API is safe to repeat
/// (searches and reads have no effect; ingest of the same ids is an upsert; delete is idempotent).
/// </summary>
public class AvgRetryOptions
{
    /// <summary>Attempts after the first; 0 turns retries off.</summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>Delay before the first retry (and every retry in <see cref="AvgRetryMode.Fixed"/> mode).</summary>
    public TimeSpan Delay { get; set; } = TimeSpan.FromSeconds(0.8);

    /// <summary>Upper bound of a computed delay (not of a server's <c>Retry-After</c>).</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromMinutes(1);

    public AvgRetryMode Mode { get; set; } = AvgRetryMode.Exponential;
}
