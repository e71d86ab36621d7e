using System.Diagnostics;
using Avg.Models.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Avg.Models.Encoders;

/// <summary>
/// What every two-tower model here trains with: the symmetric InfoNCE loss over in-batch negatives, and the loop that
/// feeds it batches of distinct images with one random caption each, under AdamW with cosine decay.
/// </summary>
internal static class ContrastiveTraining
{
    /// <summary>Mean of the image→text and text→image cross-entropies; row k of each side is the other's positive.</summary>
    public static Tensor SymmetricInfoNce(Tensor imageVectors, Tensor textVectors, Tensor logScale, double maxLogScale)
    {
        var logits = logScale.ClampMax(maxLogScale).exp() * imageVectors.matmul(textVectors.t());
        var targets = HeldScalars.Arange(logits.shape[0], logits.device);
        return nn.functional.cross_entropy(logits, targets).Plus(nn.functional.cross_entropy(logits.t(), targets)).DividedBy(2);
    }

    /// <summary>
    /// Trains <paramref name="model"/>: each step hands <paramref name="loss"/> a batch of image indices, the caption
    /// chosen for each, and the run's random source (for augmentation), and minimises what it returns.
    /// </summary>
    public static TrainingReport Train(nn.Module model, int[][] captionsOf, DualEncoderTrainingOptions options, string stage,
        Func<int[], int[], Random, Tensor> loss, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
    {
        var trainable = Enumerable.Range(0, captionsOf.Length).Where(i => captionsOf[i].Length > 0).ToArray();
        var batchSize = Math.Min(options.BatchSize, trainable.Length);
        if (batchSize < 2) throw new ArgumentException($"Need at least 2 images with captions to train, got {trainable.Length}.", nameof(captionsOf));
        var batchesPerEpoch = trainable.Length / batchSize;   // the ragged tail is dropped: its few negatives would make a noisy step
        var totalSteps = batchesPerEpoch * options.Epochs;

        var random = new Random(options.Seed);
        torch.manual_seed(options.Seed);
        var optimizer = torch.optim.AdamW(model.parameters(), options.LearningRate, weight_decay: options.WeightDecay);
        var schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, totalSteps);
        var batch = new int[batchSize];
        var captions = new int[batchSize];
        var stopwatch = Stopwatch.StartNew();
        double firstEpochLoss = 0, epochLoss = 0;
        var step = 0;
        model.train();
        for (var epoch = 0; epoch < options.Epochs; epoch++)
        {
            random.Shuffle(trainable);
            epochLoss = 0;
            for (var b = 0; b < batchesPerEpoch; b++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                trainable.AsSpan(b * batchSize, batchSize).CopyTo(batch);
                for (var k = 0; k < batchSize; k++)
                {
                    var choices = captionsOf[batch[k]];
                    captions[k] = choices[random.Next(choices.Length)];
                }
                double value;
                using (var scope = torch.NewDisposeScope())
                {
                    optimizer.zero_grad();
                    var batchLoss = loss(batch, captions, random);
                    batchLoss.backward();
                    optimizer.step();
                    value = batchLoss.item<float>();
                }
                schedule.step();
                epochLoss += value / batchesPerEpoch;
                step++;
                progress?.Report(new TrainingProgress(stage, epoch, step, totalSteps, value));
            }
            if (epoch == 0) firstEpochLoss = epochLoss;
        }
        model.eval();
        var elapsed = stopwatch.Elapsed;
        return new TrainingReport(step, firstEpochLoss, epochLoss, elapsed, step * (double)batchSize / Math.Max(elapsed.TotalSeconds, 1e-9));
    }
}
