using System.Diagnostics;

namespace Avg.Cluster.Telemetry;

/// <summary>
/// Records the product meter's per-call figures at the grain boundary (an incoming grain call filter), so grain bodies
/// hold no telemetry: the duration of each successful <see cref="IQueryGrain.Search"/>, and the images of each
/// successful <see cref="ITokenizationShardGrain.Ingest"/> or <see cref="ITokenizationShardGrain.Write"/> by shard, partial answers, the searches and batches
/// cancelled because their caller went away, and after every call to a partition (the call that activates it, and each
/// change) the images it holds. Other calls pass straight through.
/// </summary>
internal sealed class GrainCallMetrics(AvgMetrics metrics) : IIncomingGrainCallFilter
{
    public Task Invoke(IIncomingGrainCallContext context) => context.Grain switch
    {
        IQueryGrain when context.InterfaceMethod.Name == nameof(IQueryGrain.Search) => TimeQuery(context),
        ITokenizationShardGrain shard when context.InterfaceMethod.Name is nameof(ITokenizationShardGrain.Ingest)
            or nameof(ITokenizationShardGrain.Tokenize) or nameof(ITokenizationShardGrain.Write) => CountIngest(context, shard),
        Grains.VokenTriePartitionGrain partition => ReportPartitionSize(context, partition),
        _ => context.Invoke(),
    };

    private async Task ReportPartitionSize(IIncomingGrainCallContext context, Grains.VokenTriePartitionGrain partition)
    {
        try
        {
            await context.Invoke().ConfigureAwait(true);
        }
        finally
        {
            // On the grain's scheduler, between its turns: the count is one a change left whole.
            metrics.SetPartitionImages(partition.IndexVersion, partition.FirstVoken, partition.ImageCount);
        }
    }

    private async Task TimeQuery(IIncomingGrainCallContext context)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            await context.Invoke().ConfigureAwait(true);
        }
        catch (OperationCanceledException)
        {
            // The caller went away: the model host has dropped the search.
            metrics.RecordCancelled(AvgMetrics.QueryBatch);
            throw;
        }

        metrics.RecordQuery(Stopwatch.GetElapsedTime(start));
        if (context.Result is SearchResult { Partial: true })
        {
            metrics.RecordPartialQuery();
        }
    }

    private async Task CountIngest(IIncomingGrainCallContext context, ITokenizationShardGrain shard)
    {
        try
        {
            await context.Invoke().ConfigureAwait(true);
        }
        catch (OperationCanceledException)
        {
            metrics.RecordCancelled(AvgMetrics.IngestBatch);
            throw;
        }

        // Images count when they are indexed: by Ingest, or by the Write after a Tokenize.
        var indexed = context.Request.GetArgument(0) switch
        {
            IngestItem[] items when context.InterfaceMethod.Name == nameof(ITokenizationShardGrain.Ingest) => items.Length,
            IndexedImage[] images => images.Length,
            _ => 0,
        };
        if (indexed > 0)
        {
            metrics.RecordIngest((int)shard.GetPrimaryKeyLong(), indexed);
        }
    }
}
