using System.Collections.Concurrent;
using System.Diagnostics;
using Avg.Client;

namespace Avg.Cluster.Testing;

/// <summary>
/// Ingest as a client under faults does it: batches through the SDK, each sent again (to the next silo) until it is
/// acknowledged, as the SDK's contract for a failed batch says (docs/cluster.md, "Ingest atomicity"). Keeps every id
/// acknowledged with its vokens, so a test can check afterwards that the index holds exactly those.
/// </summary>
public sealed class AcknowledgedIngest : IDisposable
{
    private readonly TimeSpan _perBatchLimit;
    private readonly CountingHandler _counter = new();
    private readonly HttpClient _http;
    private int _next;

    /// <param name="httpPorts">The silos' HTTP ports: a batch whose attempts keep failing moves to the next.</param>
    /// <param name="perBatchLimit">How long one batch may take, retries included, before the test fails.</param>
    public AcknowledgedIngest(IEnumerable<int> httpPorts, TimeSpan perBatchLimit)
    {
        _perBatchLimit = perBatchLimit;
        _http = new HttpClient(_counter) { Timeout = Timeout.InfiniteTimeSpan };
        Clients = httpPorts.Select(port => new AvgSearchClient(new Uri($"http://127.0.0.1:{port}"), _http,
            new AvgSearchClientOptions { Timeout = TimeSpan.FromSeconds(20), Retry = { MaxRetries = 2, Delay = TimeSpan.FromMilliseconds(100) } })).ToArray();
    }

    /// <summary>One SDK client per silo, sharing a handler that counts refused attempts.</summary>
    public IReadOnlyList<AvgSearchClient> Clients { get; }

    /// <summary>Ingest attempts (the SDK's own retries included) answered with a 5xx or not answered at all.</summary>
    public int RefusedAttempts => _counter.Refused;

    /// <summary>Every id acknowledged (HTTP 2xx), with the vokens the acknowledgement gave.</summary>
    public ConcurrentDictionary<string, IReadOnlyList<int>> Acknowledged { get; } = new(StringComparer.Ordinal);

    /// <summary>Every id acknowledged, with the fine codes the acknowledgement gave.</summary>
    public ConcurrentDictionary<string, byte[]> Fine { get; } = new(StringComparer.Ordinal);

    /// <summary>SDK calls that failed after the SDK's own retries (and were sent again, to the next silo).</summary>
    public int FailedAttempts { get; private set; }

    /// <summary>When each batch was acknowledged, from the start of <see cref="RunAsync"/>.</summary>
    public List<TimeSpan> AcknowledgedAt { get; } = [];

    /// <summary>When each batch was first sent, from the start of <see cref="RunAsync"/> (index as <see cref="AcknowledgedAt"/>).</summary>
    public List<TimeSpan> SentAt { get; } = [];

    /// <summary>The failures seen, one line each (status and message), for the test's output.</summary>
    public List<string> Failures { get; } = [];

    /// <summary>Sends the batches one after another; <paramref name="afterBatch"/> runs after each acknowledgement (its index).</summary>
    public async Task RunAsync(IEnumerable<ImageToIndex[]> batches, Func<int, Task>? afterBatch = null)
    {
        var clock = Stopwatch.StartNew();
        var index = 0;
        foreach (var batch in batches)
        {
            var started = Stopwatch.StartNew();
            SentAt.Add(clock.Elapsed);
            while (true)
            {
                var client = Clients[_next % Clients.Count];
                try
                {
                    var result = await client.IndexImagesAsync(batch);
                    foreach (var image in result.Indexed)
                    {
                        Acknowledged[image.Id] = image.Vokens;
                        Fine[image.Id] = image.Fine?.Select(b => (byte)b).ToArray() ?? [];
                    }

                    AcknowledgedAt.Add(clock.Elapsed);
                    break;
                }
                catch (AvgRequestException e) when (started.Elapsed < _perBatchLimit)
                {
                    FailedAttempts++;
                    Failures.Add($"{clock.Elapsed.TotalSeconds:F2}s batch {index} via {client.Endpoint}: {e.Status} {e.Message.Split('\n')[0]}");
                    _next++;
                    await Task.Delay(100);
                }
            }

            if (afterBatch is not null)
            {
                await afterBatch(index);
            }

            index++;
        }
    }

    public void Dispose() => _http.Dispose();

    private sealed class CountingHandler() : DelegatingHandler(new SocketsHttpHandler())
    {
        private int _refused;

        public int Refused => Volatile.Read(ref _refused);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var ingest = request.Method == HttpMethod.Post && request.RequestUri!.AbsolutePath == "/v1/images";
            try
            {
                var response = await base.SendAsync(request, cancellationToken);
                if (ingest && (int)response.StatusCode >= 500)
                {
                    Interlocked.Increment(ref _refused);
                }

                return response;
            }
            catch (HttpRequestException) when (ingest)
            {
                Interlocked.Increment(ref _refused);
                throw;
            }
        }
    }
}

/// <summary>Checks that an index holds exactly the acknowledged images: the count, every id with its vokens, and the partitions' counts adding up.</summary>
public static class IndexCheck
{
    /// <summary>What the index holds of <paramref name="acknowledged"/>: its image count, the partitions' counts summed, and the acknowledged ids found (directory → partition) with their vokens.</summary>
    public static async Task<(long Images, long InPartitions, int Found, string[] Missing)> CountAsync(AvgSearchClient client, IReadOnlyDictionary<string, IReadOnlyList<int>> acknowledged)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(acknowledged);
        var stats = await client.GetStatsAsync();
        var missing = new ConcurrentBag<string>();
        await Parallel.ForEachAsync(acknowledged, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (entry, token) =>
        {
            var image = await client.GetImageAsync(entry.Key, token);
            if (image is null || !image.Vokens.SequenceEqual(entry.Value) || image.Partition != entry.Value[0])
            {
                missing.Add(entry.Key);
            }
        });
        return (stats.Images, stats.PartitionLoad?.Sum(p => p.Images) ?? -1, acknowledged.Count - missing.Count, [.. missing]);
    }

    /// <summary>Null when the index matches; otherwise what is wrong (for retrying until recovered, or for the failure message).</summary>
    public static async Task<string?> MismatchAsync(AvgSearchClient client, IReadOnlyDictionary<string, IReadOnlyList<int>> acknowledged)
    {
        var (images, inPartitions, found, missing) = await CountAsync(client, acknowledged);
        if (images != acknowledged.Count)
        {
            return $"the index counts {images} images; {acknowledged.Count} were acknowledged";
        }

        if (inPartitions != acknowledged.Count)
        {
            return $"the partitions hold {inPartitions} images; {acknowledged.Count} were acknowledged";
        }

        return found == acknowledged.Count ? null : $"{missing.Length} acknowledged images are not found (directory → partition) with their vokens: {string.Join(", ", missing.Take(10))}";
    }
}
