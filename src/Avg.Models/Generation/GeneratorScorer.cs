using Avg.Retrieval;
using TorchSharp;
using static TorchSharp.torch;

namespace Avg.Models.Generation;

/// <summary>
/// Runs the generator for <see cref="ConstrainedBeamSearch"/>: encodes a batch of queries once (cross-attention
/// keys/values cached per query), then scores every beam of every query in one decoder pass per step.
/// The decoder's self-attention is recomputed over the short prefix (M ≤ 8) at each step rather than cached:
/// measured cheaper than gathering a per-beam cache at these lengths. The last layer and the head run at the last
/// position only (<see cref="TokenToVokenGenerator.NextLogits"/>).
/// </summary>
public sealed class GeneratorScorer : IVokenStepScorer, IDisposable
{
    private readonly TokenToVokenGenerator model;
    private readonly Device device;
    private CrossAttentionCache? cache;
    private int preparedQueries;

    public GeneratorScorer(TokenToVokenGenerator model)
    {
        ArgumentNullException.ThrowIfNull(model);
        this.model = model;
        device = model.parameters().First().device;
    }

    public int CodebookSize => model.Options.CodebookSize;

    /// <summary>Whether <see cref="Prepare"/> needs the queries' text vectors (<see cref="TokenToVokenGenerator.ReadsTextVector"/>).</summary>
    public bool NeedsTextVectors => model.ReadsTextVector;

    /// <summary>
    /// Encodes the queries' text ids (count × maxLength, 0 = padding) for the next search, with their text vectors
    /// (count × <see cref="GeneratorOptions.TextVectorWidth"/>) when the generator reads them.
    /// </summary>
    public void Prepare(ReadOnlySpan<int> textIds, int count, float[]? textVectors = null)
    {
        ReleaseCache();
        if (count == 0) return;
        var length = textIds.Length / count;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var ids = tensor(ToLong(textIds), [count, length], dtype: int64, device: device);
        var vectors = model.ReadsTextVector && textVectors is not null ? tensor(textVectors, [count, textVectors.Length / count], device: device) : null;
        var (memory, mask) = model.Encode(ids, vectors);
        var prepared = model.PrepareCache(memory, mask);
        foreach (var t in prepared.Keys.Concat(prepared.Values).Append(prepared.Mask)) t.MoveToOuterDisposeScope();
        cache = prepared;
        preparedQueries = count;
    }

    public void BeginQueries(int queryCount)
    {
        if (cache is null || queryCount != preparedQueries)
            throw new InvalidOperationException($"Prepare the scorer with {queryCount} queries before searching (prepared: {preparedQueries}).");
    }

    public void Score(ReadOnlySpan<int> queryOfBeam, ReadOnlySpan<int> prefixes, int prefixLength, Span<float> logits)
    {
        var beams = queryOfBeam.Length;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var rows = tensor(ToLong(queryOfBeam), dtype: int64, device: device);
        var prefix = tensor(ToLong(prefixes), [beams, prefixLength], dtype: int64, device: device);
        var last = model.NextLogits(prefix, cache!, rows).contiguous();
        var values = last.cpu().data<float>();
        values.CopyTo(logits[..(beams * CodebookSize)]);
    }

    public void ReorderBeams(ReadOnlySpan<int> parentBeam)
    {
        // Nothing cached per beam: the next Score call receives the full prefixes.
    }

    public void Dispose() => ReleaseCache();

    private void ReleaseCache()
    {
        if (cache is null) return;
        foreach (var t in cache.Keys.Concat(cache.Values).Append(cache.Mask)) t.Dispose();
        cache = null;
        preparedQueries = 0;
    }

    private static long[] ToLong(ReadOnlySpan<int> values)
    {
        var result = new long[values.Length];
        for (var i = 0; i < values.Length; i++) result[i] = values[i];
        return result;
    }
}
