namespace Avg.Cluster.Inference;

/// <summary>What a model host's forward pass served.</summary>
public enum ModelWork
{
    /// <summary>Searches: the generator's beam search.</summary>
    Search,

    /// <summary>Ingest batches: the encoder (for pixels) and the tokenizer.</summary>
    Ingest,
}

/// <summary>One forward pass of the model host (<see cref="ModelHost.BatchRan"/>): its work, the requests it merged, and its beam-search steps (0 for ingest).</summary>
public readonly record struct ModelBatchRun(ModelWork Work, int Requests, long BeamSteps);
