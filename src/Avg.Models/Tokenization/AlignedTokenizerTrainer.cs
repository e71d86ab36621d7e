using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Avg.Models.Tokenization;

/// <summary>
/// Trains an <see cref="AlignedTokenizer"/> (paper eq. 6 with weights): L = ||v_i − v̂_i||² + β Σ_d ||z − sg(ẑ^(d))||²
/// + γ Σ_d ||sg(z) − ẑ^(d)||² + λ ||v̂_i − v_t||², where v_t is a random caption of the image, drawn anew each step.
/// The codebook starts from level-by-level k-means on residuals; dead codes are re-seeded after each epoch.
/// </summary>
public sealed class AlignedTokenizerTrainer : StageTrainer<AlignedTokenizer, AlignedTokenizerTrainingOptions>
{
    /// <summary>Stage name in <see cref="TrainingProgress"/>.</summary>
    public const string Stage = "tokenizer";

    private const int ReseedSample = 4096;


    public AlignedTokenizerTrainer(AlignedTokenizer tokenizer, AlignedTokenizerTrainingOptions? options = null)
        : base(tokenizer, options)
    {
    }

    /// <summary>Codes re-seeded over the run (all epochs), for reports.</summary>
    public int CodesReseeded { get; private set; }

    /// <param name="imageVectors">v_i, N×d flat.</param>
    /// <param name="captionVectors">v_t, K×d flat; an image without captions is aligned to its own vector.</param>
    /// <param name="captionImage">For each caption, the index of its image.</param>
    public TrainingReport Train(float[] imageVectors, float[] captionVectors, int[] captionImage, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(captionImage);
        var dim = Model.Options.InputDim;
        var count = Model.RowCount(imageVectors);
        if (Model.RowCount(captionVectors) != captionImage.Length)
            throw new ArgumentException($"captionVectors holds {captionVectors.Length / dim} rows but captionImage has {captionImage.Length} entries.", nameof(captionImage));
        if (count == 0) throw new ArgumentException("No image vectors to train on.", nameof(imageVectors));
        var captionsOf = CaptionsByImage(captionImage, count);
        var random = new Random(Options.Seed);
        torch.manual_seed(Options.Seed);

        using var images = torch.tensor(imageVectors, [count, dim], device: Model.Device);
        using var texts = captionImage.Length == 0 ? images.alias() : torch.tensor(captionVectors, [captionImage.Length, dim], device: Model.Device);
        if (Options.KMeansInit) InitialiseCodebook(images, random);

        var batchSize = Math.Min(Options.BatchSize, count);
        var batchesPerEpoch = (count + batchSize - 1) / batchSize;
        var totalSteps = batchesPerEpoch * Options.Epochs;
        var optimizer = torch.optim.AdamW(Model.parameters(), Options.LearningRate, weight_decay: 0);
        var order = Enumerable.Range(0, count).ToArray();
        var usage = new long[Model.Options.CodebookSize];
        var stopwatch = Stopwatch.StartNew();
        double firstEpochLoss = 0, epochLoss = 0;
        var step = 0;
        Model.train();
        for (var epoch = 0; epoch < Options.Epochs; epoch++)
        {
            random.Shuffle(order);
            Array.Clear(usage);
            epochLoss = 0;
            for (var start = 0; start < count; start += batchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var batch = order.AsSpan(start, Math.Min(batchSize, count - start)).ToArray();
                var targets = batch.Select(i => captionsOf[i].Length == 0 ? -1L : captionsOf[i][random.Next(captionsOf[i].Length)]).ToArray();
                var loss = Step(optimizer, images, texts, batch, targets, usage);
                epochLoss += loss / batchesPerEpoch;
                step++;
                progress?.Report(new TrainingProgress(Stage, epoch, step, totalSteps, loss));
            }
            if (epoch == 0) firstEpochLoss = epochLoss;
            if (Options.ReseedDeadCodes && epoch < Options.Epochs - 1) CodesReseeded += ReseedDeadCodes(usage, images, random);
        }
        Model.eval();
        var elapsed = stopwatch.Elapsed;
        return new TrainingReport(step, firstEpochLoss, epochLoss, elapsed, step * (double)batchSize / Math.Max(elapsed.TotalSeconds, 1e-9));
    }

    private double Step(torch.optim.Optimizer optimizer, Tensor images, Tensor texts, int[] batch, long[] captionRows, long[] usage)
    {
        using var scope = torch.NewDisposeScope();
        var index = torch.tensor(batch.Select(i => (long)i).ToArray(), device: images.device);
        var v = images.index_select(0, index);
        var hasCaption = torch.tensor(captionRows.Select(c => c >= 0).ToArray(), device: images.device).unsqueeze(1);
        var target = torch.where(hasCaption, texts.index_select(0, torch.tensor(captionRows.Select(c => Math.Max(c, 0)).ToArray(), device: images.device)), v);
        optimizer.zero_grad();
        var output = Model.call(v);
        var loss = Loss(v, target, output);
        loss.backward();
        optimizer.step();
        var counts = torch.bincount(output.Vokens.flatten(), minlength: usage.Length).to(torch.CPU).data<long>();
        for (var c = 0; c < usage.Length; c++) usage[c] += counts[c];
        return loss.item<float>();
    }

    private Tensor Loss(Tensor v, Tensor textTarget, QuantizedBatch output)
    {
        var z = output.Latent;
        var loss = SquaredDistance(v, output.Reconstruction);
        foreach (var partial in output.PartialSums)
        {
            loss = loss + Options.CommitWeight * SquaredDistance(z, partial.detach());
            loss = loss + Options.CodebookWeight * SquaredDistance(z.detach(), partial);
        }
        return Options.AlignWeight > 0 ? loss + Options.AlignWeight * SquaredDistance(output.Reconstruction, textTarget) : loss;
    }

    private static Tensor SquaredDistance(Tensor a, Tensor b) => (a - b).pow(2).sum(1).mean();

    /// <summary>
    /// Level-by-level k-means on residuals of the encoded vectors: level j gets its own slice of the shared
    /// codebook, fitted to r_j, so each level starts with codes of the size its residuals have.
    /// </summary>
    internal void InitialiseCodebook(Tensor images, Random random)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var count = (int)images.shape[0];
        var sample = Enumerable.Range(0, count).ToArray();
        random.Shuffle(sample);
        var rows = torch.tensor(sample.Take(Options.KMeansSample).Select(i => (long)i).ToArray(), device: images.device);
        var residual = Model.Latent(images.index_select(0, rows));
        var (size, levels) = (Model.Options.CodebookSize, Model.Options.Levels);
        var start = 0;
        for (var level = 0; level < levels; level++)
        {
            var slice = size / levels + (level < size % levels ? 1 : 0);
            var centroids = KMeans.Fit(residual, slice, Options.KMeansIterations, random);
            Model.CodebookParameter.narrow(0, start, slice).copy_(centroids);
            residual = residual - centroids.index_select(0, KMeans.Nearest(residual, centroids));
            start += slice;
        }
    }

    /// <summary>Moves every code with zero <paramref name="usage"/> onto a random current residual (any level) of a random sample of images; returns how many moved.</summary>
    internal int ReseedDeadCodes(long[] usage, Tensor images, Random random)
    {
        var dead = Enumerable.Range(0, usage.Length).Where(c => usage[c] == 0).Select(c => (long)c).ToArray();
        if (dead.Length == 0) return 0;
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var count = (int)images.shape[0];
        var rows = torch.tensor(Enumerable.Range(0, Math.Min(count, ReseedSample)).Select(_ => (long)random.Next(count)).ToArray(), device: images.device);
        var pool = torch.cat(Model.Quantize(Model.Latent(images.index_select(0, rows))).Residuals.ToArray(), 0);
        var picks = torch.tensor(dead.Select(_ => (long)random.Next((int)pool.shape[0])).ToArray(), device: images.device);
        Model.CodebookParameter.index_copy_(0, torch.tensor(dead, device: images.device), pool.index_select(0, picks));
        return dead.Length;
    }

    private static int[][] CaptionsByImage(int[] captionImage, int count)
    {
        var lists = Enumerable.Range(0, count).Select(_ => new List<int>()).ToArray();
        for (var c = 0; c < captionImage.Length; c++)
        {
            if ((uint)captionImage[c] >= (uint)count)
                throw new ArgumentException($"Caption {c} points at image {captionImage[c]}, outside 0..{count - 1}.", nameof(captionImage));
            lists[captionImage[c]].Add(c);
        }
        return lists.Select(l => l.ToArray()).ToArray();
    }
}
