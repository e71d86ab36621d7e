using System.CommandLine;
using System.Globalization;
using Avg.Client;

namespace Avg.Cli;

/// <summary>The options every command that talks to a running cluster shares, and the SDK client they make.</summary>
internal sealed class ClusterConnection
{
    /// <summary>Read when --api-key is not given, so keys stay out of shell history.</summary>
    public const string ApiKeyVariable = "AVG_API_KEY";

    private readonly Option<string> _endpoint = new("--endpoint") { Description = "Base URL of a silo or of the load balancer in front of the silos, e.g. http://localhost:8080.", Required = true };
    private readonly Option<string?> _apiKey = new("--api-key") { Description = $"Sent as X-Api-Key when the silos require keys (default: ${ApiKeyVariable})." };
    private readonly Option<int> _retries = new("--retries") { Description = "Retries of a failed request (408, 429, 5xx, connection errors), with backoff.", DefaultValueFactory = _ => 3 };
    private readonly Option<double> _timeout = new("--timeout") { Description = "Seconds allowed for each attempt of a request.", DefaultValueFactory = _ => 100 };
    private readonly Option<string?> _indexVersion = new("--index-version") { Description = "Refuse (409) unless the cluster serves this index version (the bundle's manifest hash; see GET /v1/stats)." };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _endpoint, _apiKey, _retries, _timeout, _indexVersion }) command.Options.Add(option);
    }

    /// <summary>The --index-version to pin requests to, if given.</summary>
    public string? IndexVersion(ParseResult parse) => parse.GetValue(_indexVersion);

    public AvgSearchClient CreateClient(ParseResult parse)
    {
        var url = parse.GetValue(_endpoint)!;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw new AvgException($"--endpoint '{url}' is not an http(s) URL; expected e.g. http://localhost:8080");
        var retryCount = parse.GetValue(_retries);
        if (retryCount < 0) throw new AvgException(string.Create(CultureInfo.InvariantCulture, $"--retries must be 0 or more, got {retryCount}"));
        var seconds = parse.GetValue(_timeout);
        if (!(seconds > 0) || double.IsInfinity(seconds))
            throw new AvgException(string.Create(CultureInfo.InvariantCulture, $"--timeout must be a positive number of seconds, got {seconds}"));

        var options = new AvgSearchClientOptions
        {
            ApiKey = parse.GetValue(_apiKey) ?? Environment.GetEnvironmentVariable(ApiKeyVariable),
            Timeout = TimeSpan.FromSeconds(seconds),
            ApplicationId = "avg-cli",
        };
        options.Retry.MaxRetries = retryCount;
        return new AvgSearchClient(uri, options);
    }

    /// <summary>The one-line message for a failed request, with what to do for the failures a user can fix here.</summary>
    public static string Describe(AvgRequestException e) => e.Status switch
    {
        401 or 403 => $"{e.Message} (pass --api-key or set {ApiKeyVariable})",
        413 => $"{e.Message} (the request body is over the server's size limit; send smaller batches with --batch)",
        0 when e.InnerException is TimeoutException => $"{e.Message} (raise --timeout if the cluster is busy)",
        0 => $"{e.Message} (is the endpoint right and the cluster running?)",
        _ => e.Message,
    };
}
