using Avg.Evaluation;
using Cloud.Unum.USearch;

namespace Avg.Bench;

/// <summary>HNSW graph parameters of the approximate peer (USearch's names; defaults are USearch's own).</summary>
public sealed record HnswOptions
{
    /// <summary>M: neighbours kept per node on the upper layers (2M on the base layer).</summary>
    public int Connectivity { get; init; } = 16;

    /// <summary>efConstruction: candidates examined while inserting an image.</summary>
    public int ExpansionAdd { get; init; } = 128;

    /// <summary>ef: candidates examined per query; recall and latency both rise with it.</summary>
    public int ExpansionSearch { get; init; } = 64;
}

/// <summary>
/// The approximate vector index a user would pick instead of AVG: USearch's HNSW over the same L2-normalised
/// image vectors as <see cref="ExactDotProductSearch"/>, by inner product, so its scores are the same cosines.
/// Not thread-safe to add to (the wrapper grows capacity per call); searches run one at a time here.
/// </summary>
public sealed class HnswImageIndex : IDisposable
{
    // Rows copied into jagged arrays per Add call: the wrapper takes float[][] and reserves capacity once per call.
    private const int AddChunk = 8192;

    private readonly USearchIndex _index;
    private readonly int _dimension;

    public HnswImageIndex(int dimension, HnswOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        ArgumentNullException.ThrowIfNull(options);
        _dimension = dimension;
        _index = new USearchIndex(MetricKind.Ip, ScalarKind.Float32, (ulong)dimension,
            (ulong)options.Connectivity, (ulong)options.ExpansionAdd, (ulong)options.ExpansionSearch);
    }

    /// <summary>Package and native library version, for the report.</summary>
    public static string Library => "Cloud.Unum.USearch " + USearchCapabilities.Version();

    /// <summary>The SIMD kernels the native library picked on this CPU (e.g. "haswell", "serial").</summary>
    public string HardwareAcceleration => _index.HardwareAcceleration();

    /// <summary>Images in the index.</summary>
    public long Count => (long)_index.Size();

    /// <summary>Appends rows of count × d vectors (normalised on the way in), with ids following the current count.</summary>
    public void Add(ReadOnlySpan<float> vectors)
    {
        if (vectors.Length % _dimension != 0)
            throw new ArgumentException($"{vectors.Length} floats is not a whole number of {_dimension}-dimensional vectors.", nameof(vectors));
        var rows = vectors.Length / _dimension;
        var first = Count;
        for (var start = 0; start < rows; start += AddChunk)
        {
            var chunk = Math.Min(AddChunk, rows - start);
            var keys = new ulong[chunk];
            var chunkVectors = new float[chunk][];
            for (var i = 0; i < chunk; i++)
            {
                keys[i] = (ulong)(first + start + i);
                chunkVectors[i] = vectors.Slice((start + i) * _dimension, _dimension).ToArray();
                ExactDotProductSearch.Normalize(chunkVectors[i]);
            }
            _index.Add(keys, chunkVectors);
        }
    }

    /// <summary>Approximate top-k by cosine; the query is normalised in place.</summary>
    public ScoredImage[] Search(float[] query, int k)
    {
        ArgumentNullException.ThrowIfNull(query);
        ExactDotProductSearch.Normalize(query);
        var found = _index.Search(query, k, out var keys, out var distances);
        var hits = new ScoredImage[found];
        // USearch's inner-product distance is 1 − q·v.
        for (var i = 0; i < found; i++) hits[i] = new ScoredImage((long)keys[i], 1 - distances[i]);
        return hits;
    }

    /// <summary>Levels of the file <see cref="USearchIndex.Save"/> writes: vectors, graph and keys, as shipped.</summary>
    public long SerializedBytes()
    {
        var path = Path.Combine(Path.GetTempPath(), $"avg-bench-hnsw-{Guid.NewGuid():N}.usearch");
        try
        {
            _index.Save(path);
            return new FileInfo(path).Length;
        }
        finally
        {
            File.Delete(path);
        }
    }

    public void Dispose() => _index.Dispose();
}
