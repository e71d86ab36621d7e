using Avg.Models.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Avg.Models.Tokenization;

/// <summary>Seeded Lloyd k-means in torch, for codebook initialisation.</summary>
public static class KMeans
{
    /// <summary>k×d centroids of <paramref name="points"/> (n×d); starts from k distinct random points, refills empty clusters with random points.</summary>
    public static Tensor Fit(Tensor points, int k, int iterations, Random random)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        var n = (int)points.shape[0];
        if (n == 0) throw new ArgumentException("k-means needs at least one point.", nameof(points));
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var x = points.detach();
        var centroids = x.index_select(0, Indices(Start(n, k, random), x.device)).clone();
        for (var iteration = 0; iteration < iterations; iteration++)
        {
            var assignment = Nearest(x, centroids);
            var sums = torch.zeros_like(centroids).IndexAddInPlace(0, assignment, x);
            var counts = torch.bincount(assignment, minlength: k).to_type(x.dtype).unsqueeze(1);
            var empty = counts.squeeze(1).Eq(0);
            centroids = torch.where(empty.unsqueeze(1), centroids, sums / counts.ClampMin(1));
            var emptyCount = (int)empty.sum().item<long>();
            if (emptyCount > 0)
            {
                var refill = x.index_select(0, Indices(Enumerable.Range(0, emptyCount).Select(_ => random.Next(n)).ToArray(), x.device));
                centroids = centroids.index_copy(0, empty.nonzero().squeeze(1), refill);
            }
        }
        return centroids.MoveToOuterDisposeScope();
    }

    /// <summary>Index of the nearest row of <paramref name="centroids"/> for each row of <paramref name="x"/>; ties go to the lowest index.</summary>
    public static Tensor Nearest(Tensor x, Tensor centroids)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(centroids);
        var distances = centroids.Pow(2).sum(1).unsqueeze(0) - x.matmul(centroids.t()).Times(2);   // ||x||² is constant per row
        return distances.argmin(1);
    }

    private static int[] Start(int n, int k, Random random)
    {
        if (n >= k)
        {
            var order = Enumerable.Range(0, n).ToArray();
            random.Shuffle(order);
            return order[..k];
        }
        return Enumerable.Range(0, k).Select(i => i < n ? i : random.Next(n)).ToArray();
    }

    private static Tensor Indices(int[] indices, Device device) =>
        torch.tensor(indices.Select(i => (long)i).ToArray(), device: device);
}
