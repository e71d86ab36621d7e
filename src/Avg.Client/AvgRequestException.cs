namespace Avg.Client;

/// <summary>
/// A request the server refused (4xx/5xx, with its RFC 9457 problem details) or that never got an answer
/// (<see cref="Status"/> 0: connection failure or timeout, after all retries).
/// </summary>
public class AvgRequestException : Exception
{
    private static readonly IReadOnlyDictionary<string, IReadOnlyList<string>> NoErrors = new Dictionary<string, IReadOnlyList<string>>();

    public AvgRequestException() : this("The AVG request failed.") { }

    public AvgRequestException(string message) : this(message, null) { }

    public AvgRequestException(string message, Exception? innerException) : base(message, innerException) => Errors = NoErrors;

    /// <summary>An error with the server's answer; <paramref name="errors"/> is the problem's validation <c>errors</c> member.</summary>
    public AvgRequestException(int status, string message, string? title = null, string? detail = null, string? problemType = null,
        IReadOnlyDictionary<string, IReadOnlyList<string>>? errors = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Status = status;
        Title = title;
        Detail = detail;
        ProblemType = problemType;
        Errors = errors ?? NoErrors;
    }

    /// <summary>HTTP status of the last attempt, or 0 when no response arrived.</summary>
    public int Status { get; }

    /// <summary>The problem's <c>title</c>: the kind of failure (same for every occurrence).</summary>
    public string? Title { get; }

    /// <summary>The problem's <c>detail</c>: what was wrong with this request.</summary>
    public string? Detail { get; }

    /// <summary>The problem's <c>type</c> URI.</summary>
    public string? ProblemType { get; }

    /// <summary>Validation failures by request field (e.g. <c>k</c>, <c>images[3].features</c>); empty for other errors.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Errors { get; }
}
