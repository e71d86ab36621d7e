using System.Globalization;
using Avg.Cluster;
using Avg.Cluster.Hosting;
using Microsoft.Extensions.Options;

namespace Avg.Silo.Http;

/// <summary>Spreads an ingest batch over the tokenization shards, starting at a rotating shard so small batches spread too.</summary>
public sealed class ShardRouter(IOptions<AvgSiloOptions> options)
{
    private int _next = -1;

    /// <summary>
    /// Indexes the batch over the shards in two steps: every shard tokenizes its part (rules, decoding, model), and only
    /// when all accept theirs does each write it, so a bad image anywhere refuses the whole batch
    /// (<see cref="BatchRefusedException"/>, fields named as in the request) and nothing is indexed.
    /// <paramref name="cancellationToken"/> (the client going away) stops the shards' work.
    /// </summary>
    public async Task<IndexedImage[]> IngestAsync(IGrainFactory grains, IngestItem[] items, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(items);
        var shards = options.Value.Shards;
        var chunk = (items.Length + shards - 1) / shards;
        var start = (int)((uint)Interlocked.Increment(ref _next) % (uint)shards);
        var parts = items.Chunk(chunk).Select((part, j) => (Shard: grains.GetGrain<ITokenizationShardGrain>((start + j) % shards), Items: part)).ToArray();
        var tokenized = await Task.WhenAll(parts.Select(p => p.Shard.Tokenize(p.Items, cancellationToken))).ConfigureAwait(false);
        if (tokenized.Any(t => t.Refused))
        {
            throw new BatchRefusedException(tokenized.SelectMany((t, j) => t.Problems.Select(p => (Field: RequestField(p.Key, j * chunk), Problems: p.Value)))
                .ToDictionary(p => p.Field, p => p.Problems, StringComparer.Ordinal));
        }

        await Task.WhenAll(parts.Select((p, j) => p.Shard.Write(tokenized[j].Images, cancellationToken))).ConfigureAwait(false);
        return tokenized.SelectMany(t => t.Images).ToArray();
    }

    /// <summary>A shard's field (images[i] within its part, its own names) as the request names it.</summary>
    private static string RequestField(string shardField, int offset)
    {
        const string Prefix = "images[";
        var close = shardField.IndexOf(']', StringComparison.Ordinal);
        if (!shardField.StartsWith(Prefix, StringComparison.Ordinal) || close < 0
            || !int.TryParse(shardField.AsSpan(Prefix.Length, close - Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var index))
        {
            return shardField;
        }

        var rest = shardField[(close + 1)..];
        return string.Create(CultureInfo.InvariantCulture, $"images[{index + offset}]{(rest == ".image" ? ".imageBase64" : rest)}");
    }
}

/// <summary>A tokenization shard refused its part of an ingest batch; nothing of the batch was indexed.</summary>
public sealed class BatchRefusedException(IReadOnlyDictionary<string, string[]> errors)
    : Exception("The ingest batch was refused: " + string.Join(" ", errors.Take(5).Select(e => $"{e.Key}: {e.Value[0]}")))
{
    /// <summary>What is wrong with each field, named as in the request.</summary>
    public IReadOnlyDictionary<string, string[]> Errors { get; } = errors;
}
