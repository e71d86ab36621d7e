using Avg.Evaluation;
using TorchSharp;
using static TorchSharp.torch;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Avg.Models.Generation;

/// <summary>
/// Soft next-voken targets from the two-tower model, for distilling its ranking into the generator
/// (<c>avg train --distill</c>). For each caption, the two-tower's distribution over the train images,
/// softmax(cos(v_t, v_i) / τ), is summed into the trie along the caption's own voken path: at level l the target
/// over vokens c is the mass of the images whose sequence starts with the caption's first l−1 vokens followed by c.
/// This is exactly what teacher-forced next-voken prediction is asked at that step, so the generator learns the
/// whole set of images a caption fits — not only the one it was written for — at the cost of L_gen.
/// </summary>
public static class TeacherTargets
{
    /// <summary>Mass given to the caption's own voken at each level, so a level never has an all-zero target.</summary>
    private const float Floor = 1e-12f;

    /// <summary>
    /// Returns captions × levels × vokens targets, each row summing to 1. <paramref name="captionVectors"/> and
    /// <paramref name="imageVectors"/> are row-major with <paramref name="width"/> columns; they are L2-normalised here.
    /// </summary>
    public static float[] Compute(float[] captionVectors, float[] imageVectors, int width, int[] captionImage,
        int[] imageVokens, int levels, int vokens, double temperature, Device? device = null, int chunk = 256,
        Action<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(captionVectors);
        ArgumentNullException.ThrowIfNull(imageVectors);
        ArgumentNullException.ThrowIfNull(captionImage);
        ArgumentNullException.ThrowIfNull(imageVokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(temperature);
        var captions = captionImage.Length;
        var images = imageVokens.Length / levels;
        if (captionVectors.Length != captions * width) throw new ArgumentException($"captionVectors has {captionVectors.Length} values, expected {captions} × {width}.", nameof(captionVectors));
        if (imageVectors.Length != images * width) throw new ArgumentException($"imageVectors has {imageVectors.Length} values, expected {images} × {width}.", nameof(imageVectors));
        device ??= CPU;

        var result = new float[(long)captions * levels * vokens];
        using var noGrad = no_grad();
        using var outer = NewDisposeScope();
        var imageRows = nn.functional.normalize(tensor(imageVectors, [images, width], device: device), dim: 1).t().contiguous();
        var codes = tensor(imageVokens.Select(v => (long)v).ToArray(), [images, levels], device: device);
        var codeColumns = Enumerable.Range(0, levels).Select(l => codes.select(1, l).unsqueeze(0)).ToArray();
        for (var start = 0; start < captions; start += chunk)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var rows = Math.Min(chunk, captions - start);
            var text = nn.functional.normalize(tensor(captionVectors.AsSpan(start * width, rows * width).ToArray(), [rows, width], device: device), dim: 1);
            var weights = nn.functional.softmax(text.matmul(imageRows) / temperature, 1);
            var gold = codes.index_select(0, tensor(captionImage.AsSpan(start, rows).ToArray().Select(i => (long)i).ToArray(), device: device));
            var onPath = ones([rows, images], ScalarType.Bool, device: device);
            var levelTargets = new Tensor[levels];
            for (var l = 0; l < levels; l++)
            {
                var goldCode = gold.select(1, l).unsqueeze(1);
                var mass = zeros([rows, vokens], device: device)
                    .scatter_add(1, codeColumns[l].expand(rows, images), weights * onPath)
                    .scatter_add(1, goldCode, full([rows, 1], Floor, device: device));
                levelTargets[l] = mass / mass.sum(1, keepdim: true);
                onPath = onPath.logical_and(codeColumns[l].eq(goldCode));
            }
            var block = stack(levelTargets, 1).cpu();
            block.data<float>().CopyTo(result.AsSpan((int)((long)start * levels * vokens), rows * levels * vokens));
            progress?.Invoke(start + rows);
        }
        return result;
    }
}

/// <summary>
/// The two-tower's ranking of L_dis's candidate sequences, for soft L_dis targets (<c>avg train --dis-teacher</c>):
/// a candidate's weight is the two-tower mass of its images, Σ exp(cos(v_t, v_i) / τ) over the train images that
/// share the sequence. On Shapes a caption names a few attributes of a few objects, so several candidates fit it as
/// well as its own image does; a one-hot positive (eq. 9) pushes them all down, the teacher's ranking keeps them.
/// </summary>
public sealed class TwoTowerRanking
{
    private readonly float[] captions;
    private readonly float[] images;
    private readonly int width;
    private readonly double temperature;

    /// <param name="captionVectors">captions × <paramref name="width"/>, row-major; copied and L2-normalised.</param>
    /// <param name="imageVectors">train images × <paramref name="width"/>, row-major; copied and L2-normalised.</param>
    public TwoTowerRanking(float[] captionVectors, float[] imageVectors, int width, double temperature)
    {
        ArgumentNullException.ThrowIfNull(captionVectors);
        ArgumentNullException.ThrowIfNull(imageVectors);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(temperature);
        if (captionVectors.Length % width != 0 || imageVectors.Length % width != 0)
            throw new ArgumentException($"vectors of {captionVectors.Length} and {imageVectors.Length} values are not rows of width {width}");
        this.width = width;
        this.temperature = temperature;
        captions = Normalised(captionVectors, width);
        images = Normalised(imageVectors, width);
    }

    public int Captions => captions.Length / width;

    public int Images => images.Length / width;

    /// <summary>log Σ exp(cos(v_t, v_i) / τ) over <paramref name="imageIds"/> (train image rows) for one caption.</summary>
    public double LogMass(int caption, ReadOnlySpan<long> imageIds)
    {
        if (imageIds.IsEmpty) return double.NegativeInfinity;
        var text = captions.AsSpan(caption * width, width);
        Span<double> logits = imageIds.Length <= 64 ? stackalloc double[imageIds.Length] : new double[imageIds.Length];
        var max = double.NegativeInfinity;
        for (var i = 0; i < imageIds.Length; i++)
        {
            logits[i] = TensorPrimitives.Dot(text, images.AsSpan((int)imageIds[i] * width, width)) / temperature;
            max = Math.Max(max, logits[i]);
        }
        double sum = 0;
        foreach (var logit in logits) sum += Math.Exp(logit - max);
        return max + Math.Log(sum);
    }

    private static float[] Normalised(float[] vectors, int width)
    {
        var result = (float[])vectors.Clone();
        for (var row = 0; row < result.Length / width; row++) ExactDotProductSearch.Normalize(result.AsSpan(row * width, width));
        return result;
    }
}
