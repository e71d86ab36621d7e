using System.Numerics.Tensors;

namespace Avg.Quantization;

/// <summary>Options of <see cref="KMeans"/>; defaults suit codebook initialisation (paper §3.1, as in RQ-VAE).</summary>
public sealed record KMeansOptions
{
    /// <summary>Most Lloyd iterations; stops earlier when no assignment changes. 0 returns the k-means++ seeds.</summary>
    public int Iterations { get; init; } = 25;

    public int Seed { get; init; } = 17;

    /// <summary>When there are fewer points than clusters, extra centroids are copies of points plus Gaussian noise of this scale × the points' RMS norm.</summary>
    public float DuplicateNoise { get; init; } = 1e-3f;

    public KMeansOptions Validate()
    {
        if (Iterations < 0)
        {
            throw new AvgException($"k-means iterations must be 0 or more, got {Iterations}.");
        }

        if (!(DuplicateNoise >= 0) || float.IsInfinity(DuplicateNoise))
        {
            throw new AvgException($"k-means duplicate noise must be a finite value ≥ 0, got {DuplicateNoise}.");
        }

        return this;
    }
}

/// <summary>Result of <see cref="KMeans.Fit"/>.</summary>
/// <param name="Centroids">k × d, row-major.</param>
/// <param name="Assignments">Nearest centroid of each point (for the returned centroids).</param>
/// <param name="Inertia">Σ over points of the squared distance to the assigned centroid.</param>
/// <param name="IterationsRun">Lloyd iterations performed.</param>
public sealed record KMeansResult(float[] Centroids, int[] Assignments, double Inertia, int IterationsRun);

/// <summary>
/// Deterministic k-means (k-means++ seeding from a seeded RNG, then Lloyd iterations): initialises the
/// shared RQ codebook on (residual) vectors. Same points, k and options give the same bits.
/// </summary>
public static class KMeans
{
    /// <summary>Clusters count × d points (row-major) into k centroids.</summary>
    public static KMeansResult Fit(ReadOnlySpan<float> points, int dimension, int k, KMeansOptions? options = null)
    {
        options = (options ?? new KMeansOptions()).Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        if (points.Length == 0 || points.Length % dimension != 0)
        {
            throw new ArgumentException(
                $"k-means needs at least one {dimension}-dimensional point; got {points.Length} floats.", nameof(points));
        }

        var data = points.ToArray();
        var n = data.Length / dimension;
        var rng = new Random(options.Seed);
        var centroids = Seed(data, n, dimension, k, rng, options.DuplicateNoise);
        var assignments = new int[n];
        Array.Fill(assignments, -1);
        var sums = new double[k * dimension];
        var counts = new int[k];
        var iterations = 0;
        var inertia = Assign(data, n, dimension, centroids, k, assignments, out _);
        while (iterations < options.Iterations)
        {
            // Update: mean of assigned points; a cluster left empty keeps its centroid (the trainer re-seeds dead codes).
            Array.Clear(sums);
            Array.Clear(counts);
            for (var i = 0; i < n; i++)
            {
                var c = assignments[i];
                counts[c]++;
                for (var j = 0; j < dimension; j++)
                {
                    sums[(c * dimension) + j] += data[(i * dimension) + j];
                }
            }

            for (var c = 0; c < k; c++)
            {
                if (counts[c] > 0)
                {
                    for (var j = 0; j < dimension; j++)
                    {
                        centroids[(c * dimension) + j] = (float)(sums[(c * dimension) + j] / counts[c]);
                    }
                }
            }

            iterations++;
            inertia = Assign(data, n, dimension, centroids, k, assignments, out var changed);
            if (!changed)
            {
                break;
            }
        }

        return new KMeansResult(centroids, assignments, inertia, iterations);
    }

    /// <summary>Squared distance sum of each point to its nearest centroid (ties to the lower index).</summary>
    public static double Inertia(ReadOnlySpan<float> points, int dimension, ReadOnlySpan<float> centroids)
    {
        var total = 0.0;
        for (var i = 0; i < points.Length / dimension; i++)
        {
            total += Nearest(points.Slice(i * dimension, dimension), centroids, dimension, out _);
        }

        return total;
    }

    private static double Assign(float[] data, int n, int dimension, float[] centroids, int k, int[] assignments, out bool changed)
    {
        changed = false;
        var total = 0.0;
        for (var i = 0; i < n; i++)
        {
            total += Nearest(data.AsSpan(i * dimension, dimension), centroids.AsSpan(0, k * dimension), dimension, out var best);
            if (assignments[i] != best)
            {
                assignments[i] = best;
                changed = true;
            }
        }

        return total;
    }

    private static float Nearest(ReadOnlySpan<float> point, ReadOnlySpan<float> centroids, int dimension, out int best)
    {
        best = 0;
        var bestDistance = float.PositiveInfinity;
        for (var c = 0; c < centroids.Length / dimension; c++)
        {
            var d = SquaredDistance(point, centroids.Slice(c * dimension, dimension));
            if (d < bestDistance)
            {
                bestDistance = d;
                best = c;
            }
        }

        return bestDistance;
    }

    private static float SquaredDistance(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var d = TensorPrimitives.Distance(a, b);
        return d * d;
    }

    /// <summary>k-means++ seeding: each next seed is a point drawn with probability ∝ squared distance to the nearest seed so far.</summary>
    private static float[] Seed(float[] data, int n, int dimension, int k, Random rng, float duplicateNoise)
    {
        var centroids = new float[k * dimension];
        var seeds = Math.Min(n, k);
        var nearest = new double[n];
        var first = rng.Next(n);
        data.AsSpan(first * dimension, dimension).CopyTo(centroids);
        for (var i = 0; i < n; i++)
        {
            nearest[i] = SquaredDistance(data.AsSpan(i * dimension, dimension), centroids.AsSpan(0, dimension));
        }

        for (var c = 1; c < seeds; c++)
        {
            var total = 0.0;
            foreach (var d in nearest)
            {
                total += d;
            }

            int pick;
            if (total <= 0)
            {
                // All points sit on seeds already (duplicates): any point will do.
                pick = rng.Next(n);
            }
            else
            {
                var target = rng.NextDouble() * total;
                pick = n - 1;
                for (var i = 0; i < n; i++)
                {
                    target -= nearest[i];
                    if (target < 0 && nearest[i] > 0)
                    {
                        pick = i;
                        break;
                    }
                }
            }

            var centroid = centroids.AsSpan(c * dimension, dimension);
            data.AsSpan(pick * dimension, dimension).CopyTo(centroid);
            for (var i = 0; i < n; i++)
            {
                nearest[i] = Math.Min(nearest[i], SquaredDistance(data.AsSpan(i * dimension, dimension), centroid));
            }
        }

        if (seeds < k)
        {
            // Fewer points than clusters: the rest are noisy copies of the points, so no two centroids coincide.
            var scale = duplicateNoise * MathF.Sqrt(TensorPrimitives.Dot(data, data) / n);
            if (scale == 0)
            {
                scale = duplicateNoise;
            }

            for (var c = seeds; c < k; c++)
            {
                var source = data.AsSpan((c % n) * dimension, dimension);
                for (var j = 0; j < dimension; j++)
                {
                    centroids[(c * dimension) + j] = source[j] + (scale * Gaussian(rng));
                }
            }
        }

        return centroids;
    }

    private static float Gaussian(Random rng)
    {
        // Box–Muller; 1 − u keeps the logarithm finite.
        var u = 1.0 - rng.NextDouble();
        var v = rng.NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u)) * Math.Cos(2.0 * Math.PI * v));
    }
}
