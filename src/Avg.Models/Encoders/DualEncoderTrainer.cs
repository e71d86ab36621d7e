using TorchSharp;
using static TorchSharp.torch;

namespace Avg.Models.Encoders;

/// <summary>
/// Trains a <see cref="DualEncoder"/> with symmetric InfoNCE: each step takes a batch of distinct images, one
/// random caption of each, and uses the other pairs of the batch as negatives. AdamW with cosine decay.
/// </summary>
public sealed class DualEncoderTrainer : StageTrainer<DualEncoder, DualEncoderTrainingOptions>
{
    /// <summary>Stage name in <see cref="TrainingProgress"/>.</summary>
    public const string Stage = "dual-encoder";


    public DualEncoderTrainer(DualEncoder model, DualEncoderTrainingOptions? options = null)
        : base(model, options)
    {
    }

    public TrainingReport Train(ImageData images, CaptionData captions, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(captions);
        if (captions.MaxLength != Model.Options.MaxTextLength)
            throw new ArgumentException($"Captions have {captions.MaxLength} ids per row but the model expects {Model.Options.MaxTextLength}.", nameof(captions));
        var captionsOf = captions.CaptionsByImage(images.Count);
        var pixels = new byte[Math.Min(Options.BatchSize, images.Count) * images.ImageBytes];
        var ids = new long[Math.Min(Options.BatchSize, images.Count) * captions.MaxLength];
        return ContrastiveTraining.Train(Model, captionsOf, Options, Stage, (batch, chosen, random) =>
        {
            images.Loader(batch, pixels.AsSpan(0, batch.Length * images.ImageBytes));
            for (var k = 0; k < batch.Length; k++)
                for (var t = 0; t < captions.MaxLength; t++) ids[k * captions.MaxLength + t] = captions.Ids[chosen[k] * captions.MaxLength + t];
            var x = Augment(ImageBatches.ToFloat(pixels, batch.Length, images, Model.Device), random);
            return Model.call(x, torch.tensor(ids.AsSpan(0, batch.Length * captions.MaxLength).ToArray(), [batch.Length, captions.MaxLength], device: Model.Device));
        }, progress, cancellationToken);
    }

    /// <summary>One random translation per batch (reflect padding keeps the border statistics); cheap on CPU.</summary>
    private Tensor Augment(Tensor x, Random random)
    {
        var shift = Options.MaxShift;
        if (shift == 0) return x;
        var (height, width) = (x.shape[2], x.shape[3]);
        if (shift >= height || shift >= width) return x;
        var padded = nn.functional.pad(x, [shift, shift, shift, shift], PaddingModes.Reflect);
        return padded.narrow(2, random.Next(2 * shift + 1), height).narrow(3, random.Next(2 * shift + 1), width);
    }
}
