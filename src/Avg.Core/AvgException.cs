namespace Avg;

/// <summary>
/// A failure the user can act on: the message names the file or value, what was expected and what was found.
/// Hosts print the message alone (no stack trace) and exit non-zero.
/// </summary>
public class AvgException : Exception
{
    public AvgException(string message) : base(message) { }

    public AvgException(string message, Exception inner) : base(message, inner) { }

    public AvgException() { }

    /// <summary>
    /// The one line a command-line host prints for a failure it did not expect: type and message, or the whole
    /// exception with its stack trace when <c>AVG_DEBUG=1</c>.
    /// </summary>
    public static string UnexpectedFailureLine(Exception failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        var detail = Environment.GetEnvironmentVariable("AVG_DEBUG") == "1" ? failure.ToString() : $"{failure.GetType().Name}: {failure.Message}";
        return $"error: unexpected failure ({detail}). Set AVG_DEBUG=1 for details.";
    }
}

/// <summary>
/// A request the caller must change: a limit exceeded, a width that does not match, a value out of range. Distinct from
/// a fault of the cluster: the HTTP layer answers it 400 with the fields it names (never 503, never retried), and the
/// SDK does not send it again. Grains throw it at their boundary for callers that bypass the HTTP checks.
/// </summary>
public sealed class InvalidRequestException : AvgException
{
    public InvalidRequestException(string message, IReadOnlyDictionary<string, string[]> errors) : base(message) => Errors = errors;

    public InvalidRequestException(string message) : base(message) => Errors = new Dictionary<string, string[]>();

    public InvalidRequestException(string message, Exception inner) : base(message, inner) => Errors = new Dictionary<string, string[]>();

    public InvalidRequestException() => Errors = new Dictionary<string, string[]>();

    /// <summary>What is wrong with each field (as in a validation problem's <c>errors</c>), when the thrower knows it.</summary>
    public IReadOnlyDictionary<string, string[]> Errors { get; }
}

/// <summary>Input data (dataset JSON, features, images) is missing or not in the expected form.</summary>
public sealed class DataFormatException : AvgException
{
    public DataFormatException(string path, string problem) : base($"{path}: {problem}") => Path = path;

    public DataFormatException(string path, string problem, Exception inner) : base($"{path}: {problem}", inner) => Path = path;

    public DataFormatException() { Path = ""; }

    public DataFormatException(string message) : base(message) { Path = ""; }

    public DataFormatException(string message, Exception inner) : base(message, inner) { Path = ""; }

    /// <summary>The file or folder the problem is in.</summary>
    public string Path { get; }
}
