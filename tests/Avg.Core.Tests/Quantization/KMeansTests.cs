using Avg.Quantization;
using FsCheck.Xunit;

namespace Avg.Core.Tests.Quantization;

public class KMeansTests
{
    [Property(MaxTest = 30)]
    public void Lloyd_iterations_never_increase_inertia(int seed)
    {
        var rng = new Random(seed);
        var (d, n, k) = (rng.Next(1, 6), rng.Next(5, 80), rng.Next(1, 9));
        var points = ResidualQuantizerTests.RandomVectors(rng, n, d);

        var previous = double.PositiveInfinity;
        for (var iterations = 0; iterations <= 6; iterations++)
        {
            var result = KMeans.Fit(points, d, k, new KMeansOptions { Iterations = iterations, Seed = seed });
            result.Inertia.ShouldBeLessThanOrEqualTo(previous * (1 + 1e-6) + 1e-9);
            result.Inertia.ShouldBe(KMeans.Inertia(points, d, result.Centroids), 1e-4);
            previous = result.Inertia;
        }
    }

    [Fact]
    public void Same_seed_same_centroids_other_seed_other_start()
    {
        var points = ResidualQuantizerTests.RandomVectors(new Random(1), 200, 4);
        var a = KMeans.Fit(points, 4, 8, new KMeansOptions { Seed = 5 });
        var b = KMeans.Fit(points, 4, 8, new KMeansOptions { Seed = 5 });
        var c = KMeans.Fit(points, 4, 8, new KMeansOptions { Seed = 6, Iterations = 0 });

        a.Centroids.ShouldBe(b.Centroids);
        a.Assignments.ShouldBe(b.Assignments);
        c.Centroids.ShouldNotBe(KMeans.Fit(points, 4, 8, new KMeansOptions { Seed = 5, Iterations = 0 }).Centroids);
    }

    [Fact]
    public void Separated_blobs_are_found()
    {
        var rng = new Random(9);
        float[][] centres = [[10, 0], [0, 10], [-10, -10]];
        var points = new float[300 * 2];
        for (var i = 0; i < 300; i++)
        {
            points[2 * i] = centres[i % 3][0] + (float)(rng.NextDouble() - 0.5);
            points[(2 * i) + 1] = centres[i % 3][1] + (float)(rng.NextDouble() - 0.5);
        }

        var result = KMeans.Fit(points, 2, 3);

        for (var i = 3; i < 300; i++)
        {
            result.Assignments[i].ShouldBe(result.Assignments[i % 3]);
        }

        result.Assignments.Take(3).Distinct().Count().ShouldBe(3);
        (result.Inertia / 300).ShouldBeLessThan(0.5);
    }

    [Fact]
    public void Fewer_points_than_clusters_gives_distinct_noisy_copies()
    {
        float[] points = [1, 2, 3, 4];
        var result = KMeans.Fit(points, 2, 5);

        result.Centroids.Length.ShouldBe(10);
        var rows = Enumerable.Range(0, 5).Select(c => (result.Centroids[2 * c], result.Centroids[(2 * c) + 1])).ToList();
        rows.Distinct().Count().ShouldBe(5);
        result.Inertia.ShouldBe(0, 1e-9);
        rows.ShouldContain((1f, 2f));
        rows.ShouldContain((3f, 4f));
    }

    [Fact]
    public void Bad_options_are_refused()
    {
        Should.Throw<AvgException>(() => KMeans.Fit(new float[4], 2, 2, new KMeansOptions { Iterations = -1 })).Message.ShouldContain("-1");
        Should.Throw<ArgumentException>(() => KMeans.Fit(new float[3], 2, 2)).Message.ShouldContain("3 floats");
    }
}
