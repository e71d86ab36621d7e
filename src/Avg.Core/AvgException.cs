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
