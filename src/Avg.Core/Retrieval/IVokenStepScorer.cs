namespace Avg.Retrieval;

/// <summary>
/// The model side of constrained beam search: scores the next voken for a batch of beams that may belong to
/// several queries, so a decoder (e.g. the TorchSharp token-to-voken generator) runs one forward per step.
/// </summary>
/// <remarks>
/// Protocol for one search over <c>queryCount</c> queries (query i is whatever the scorer was prepared with,
/// e.g. the i-th encoded caption of its batch):
/// <list type="number">
/// <item><see cref="BeginQueries"/> once; the scorer resets its per-query state (encoder output, KV cache).</item>
/// <item>For step t = 0 .. M−1: <see cref="Score"/> with the current beams. At t = 0 there is exactly one beam
/// per query, with an empty prefix. Beams are grouped by query (ascending) and ranked within a query.</item>
/// <item>After every step except the last, <see cref="ReorderBeams"/> with, for each beam of the next step,
/// the index (in the batch just scored) of the beam it extends. The next <see cref="Score"/> then sees those
/// beams in that order, each prefix being its parent's prefix plus one voken (the last column of
/// <c>prefixes</c>), so a cached decoder gathers its cache by <c>parentBeam</c> and feeds only that voken.</item>
/// </list>
/// A query whose beams all die (no sequence in the trie) simply has no beams in later steps.
/// The search calls these methods from one thread, in order.
/// </remarks>
public interface IVokenStepScorer
{
    /// <summary>N: the number of vokens the scorer gives logits for; must equal the trie's vocabulary.</summary>
    int CodebookSize { get; }

    /// <summary>Starts a search over queries 0 .. <paramref name="queryCount"/>−1; drops any state from before.</summary>
    void BeginQueries(int queryCount);

    /// <summary>
    /// Writes next-voken logits (or log-probabilities) for each beam: row b of <paramref name="logits"/>
    /// (beams × N, row-major) for the beam of query <c>queryOfBeam[b]</c> whose vokens so far are row b of
    /// <paramref name="prefixes"/> (beams × <paramref name="prefixLength"/>, row-major; empty at step 0).
    /// </summary>
    void Score(ReadOnlySpan<int> queryOfBeam, ReadOnlySpan<int> prefixes, int prefixLength, Span<float> logits);

    /// <summary>Beam b of the next step extends beam <c>parentBeam[b]</c> of the step just scored.</summary>
    void ReorderBeams(ReadOnlySpan<int> parentBeam);
}
