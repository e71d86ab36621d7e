using Avg.Retrieval;

namespace Avg.Cluster.Telemetry;

/// <summary>Passes a beam search through to <paramref name="inner"/> and counts its steps: one per query that still has beams at a voken position.</summary>
internal sealed class StepCountingScorer(IVokenStepScorer inner) : IVokenStepScorer
{
    /// <summary>Query-steps scored since construction.</summary>
    public long Steps { get; private set; }

    public int CodebookSize => inner.CodebookSize;

    public void BeginQueries(int queryCount) => inner.BeginQueries(queryCount);

    public void Score(ReadOnlySpan<int> queryOfBeam, ReadOnlySpan<int> prefixes, int prefixLength, Span<float> logits)
    {
        // Beams are grouped by query, so each change of query starts one more query-step.
        for (var b = 0; b < queryOfBeam.Length; b++)
        {
            if (b == 0 || queryOfBeam[b] != queryOfBeam[b - 1])
            {
                Steps++;
            }
        }

        inner.Score(queryOfBeam, prefixes, prefixLength, logits);
    }

    public void ReorderBeams(ReadOnlySpan<int> parentBeam) => inner.ReorderBeams(parentBeam);
}
