namespace Avg.Data;

/// <summary>
/// Batches of similar-length examples for training on padded text. A padded batch costs its longest row times its
/// size; Shapes captions run from 1 to 37 tokens, so random batches of 128 hold 2.75 tokens of padding for every real
/// one, and the generator's encoder (and its cross-attention keys) would spend most of its time on padding.
/// </summary>
public static class LengthBuckets
{
    /// <summary>
    /// Reorders <paramref name="order"/> (already shuffled) so that each run of <paramref name="batchSize"/> entries has
    /// similar lengths: the order is cut into pools of <paramref name="poolBatches"/> batches, each pool is sorted by
    /// length (stable, so ties keep the shuffle's order), cut into batches, and the batches of all pools are shuffled.
    /// Every entry stays exactly once; a tail shorter than a batch stays at the end, where callers that drop partial
    /// batches drop it. Deterministic for a given <paramref name="random"/>.
    /// </summary>
    public static int[] Order(ReadOnlySpan<int> order, IReadOnlyList<int> lengths, int batchSize, int poolBatches, Random random)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(poolBatches, 1);
        var full = order.Length / batchSize * batchSize;
        var pool = batchSize * poolBatches;
        var sorted = order.ToArray();
        for (var start = 0; start < full; start += pool)
        {
            var count = Math.Min(pool, full - start);
            var keys = new int[count];
            for (var i = 0; i < count; i++) keys[i] = lengths[sorted[start + i]];
            // Array.Sort is unstable; sorting (length, position) pairs keeps ties in the shuffled order.
            var positions = Enumerable.Range(0, count).ToArray();
            Array.Sort(positions, (a, b) => keys[a] != keys[b] ? keys[a].CompareTo(keys[b]) : a.CompareTo(b));
            var segment = positions.Select(p => sorted[start + p]).ToArray();
            segment.CopyTo(sorted, start);
        }
        var batches = Enumerable.Range(0, full / batchSize).ToArray();
        random.Shuffle(batches);
        var result = new int[order.Length];
        for (var b = 0; b < batches.Length; b++) Array.Copy(sorted, batches[b] * batchSize, result, b * batchSize, batchSize);
        order[full..].CopyTo(result.AsSpan(full));
        return result;
    }
}
