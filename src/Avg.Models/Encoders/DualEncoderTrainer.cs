using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Avg.Models.Encoders;

/// <summary>
/// Trains a <see cref="DualEncoder"/> with symmetric InfoNCE: each step takes a batch of distinct images, one
/// random caption of each, and uses the other pairs of the batch as negatives. AdamW with cosine decay.
/// </summary>
public sealed class DualEncoderTrainer
{
    /// <summary>Stage name in <see cref="TrainingProgress"/>.</summary>
    public const string Stage = "dual-encoder";

    private readonly DualEncoder model;
    private readonly DualEncoderTrainingOptions options;

    public DualEncoderTrainer(DualEncoder model, DualEncoderTrainingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        this.model = model;
        this.options = options ?? new DualEncoderTrainingOptions();
        this.options.Validate();
    }

    public TrainingReport Train(ImageData images, CaptionData captions, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(captions);
        if (captions.MaxLength != model.Options.MaxTextLength)
            throw new ArgumentException($"Captions have {captions.MaxLength} ids per row but the model expects {model.Options.MaxTextLength}.", nameof(captions));
        var captionsOf = captions.CaptionsByImage(images.Count);
        var trainable = Enumerable.Range(0, images.Count).Where(i => captionsOf[i].Length > 0).ToArray();
        var batchSize = Math.Min(options.BatchSize, trainable.Length);
        if (batchSize < 2) throw new ArgumentException($"Need at least 2 images with captions to train, got {trainable.Length}.", nameof(captions));
        var batchesPerEpoch = trainable.Length / batchSize;   // the ragged tail is dropped: its few negatives would make a noisy step
        var totalSteps = batchesPerEpoch * options.Epochs;

        var random = new Random(options.Seed);
        torch.manual_seed(options.Seed);
        var optimizer = torch.optim.AdamW(model.parameters(), options.LearningRate, weight_decay: options.WeightDecay);
        var schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, totalSteps);
        var pixels = new byte[batchSize * images.ImageBytes];
        var ids = new long[batchSize * captions.MaxLength];
        var batch = new int[batchSize];
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
                images.Loader(batch, pixels);
                for (var k = 0; k < batchSize; k++)
                {
                    var choices = captionsOf[batch[k]];
                    var caption = choices[random.Next(choices.Length)];
                    for (var t = 0; t < captions.MaxLength; t++) ids[k * captions.MaxLength + t] = captions.Ids[caption * captions.MaxLength + t];
                }
                var loss = Step(optimizer, pixels, ids, batchSize, images, captions.MaxLength, random);
                schedule.step();
                epochLoss += loss / batchesPerEpoch;
                step++;
                progress?.Report(new TrainingProgress(Stage, epoch, step, totalSteps, loss));
            }
            if (epoch == 0) firstEpochLoss = epochLoss;
        }
        model.eval();
        var elapsed = stopwatch.Elapsed;
        return new TrainingReport(step, firstEpochLoss, epochLoss, elapsed, step * (double)batchSize / Math.Max(elapsed.TotalSeconds, 1e-9));
    }

    private double Step(torch.optim.Optimizer optimizer, byte[] pixels, long[] ids, int batchSize, ImageData images, int maxLength, Random random)
    {
        using var scope = torch.NewDisposeScope();
        var x = Augment(ImageBatches.ToFloat(pixels, batchSize, images, model.Device), random);
        var tokens = torch.tensor(ids, [batchSize, maxLength], device: model.Device);
        optimizer.zero_grad();
        var loss = model.call(x, tokens);
        loss.backward();
        optimizer.step();
        return loss.item<float>();
    }

    /// <summary>One random translation per batch (reflect padding keeps the border statistics); cheap on CPU.</summary>
    private Tensor Augment(Tensor x, Random random)
    {
        var shift = options.MaxShift;
        if (shift == 0) return x;
        var (height, width) = (x.shape[2], x.shape[3]);
        if (shift >= height || shift >= width) return x;
        var padded = nn.functional.pad(x, [shift, shift, shift, shift], PaddingModes.Reflect);
        return padded.narrow(2, random.Next(2 * shift + 1), height).narrow(3, random.Next(2 * shift + 1), width);
    }
}
