using Avg.Models.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Avg.Models.Encoders.Pretrained;

/// <summary>Shape of the trainable heads over the frozen backbones.</summary>
public sealed class ProjectionHeadOptions
{
    public int ImageInputDim { get; init; } = ResNet18Backbone.Width;

    public int TextInputDim { get; init; } = MiniLmBackbone.Width;

    /// <summary>Width d of v_i and v_t.</summary>
    public int EmbeddingDim { get; init; } = 256;

    /// <summary>Hidden width of a two-layer MLP head; 0 = one linear layer.</summary>
    public int HiddenDim { get; init; }

    public double InitialTemperature { get; init; } = 0.07;

    public double MaxLogitScale { get; init; } = 100;

    public void Validate()
    {
        if (ImageInputDim < 1 || TextInputDim < 1 || EmbeddingDim < 1) throw new ArgumentException("head widths must be positive");
        if (HiddenDim < 0) throw new ArgumentException($"HiddenDim must not be negative (got {HiddenDim}).");
        if (InitialTemperature <= 0 || MaxLogitScale <= 1) throw new ArgumentException("InitialTemperature must be > 0 and MaxLogitScale > 1.");
    }
}

/// <summary>
/// The pretrained two-tower model's trainable part: an image head (512 → d) and a text head (384 → d) over L2-normalised
/// backbone features, each giving unit vectors; trained with the same symmetric InfoNCE as <see cref="DualEncoder"/>.
/// </summary>
public sealed class ProjectionHeads : nn.Module<Tensor, Tensor, Tensor>
{
    /// <summary>Stage name in <see cref="TrainingProgress"/>.</summary>
    public const string Stage = "projection-heads";

    private const int InferenceBatch = 1024;

    private readonly Sequential image;
    private readonly Sequential text;
    private readonly Parameter logitScale;
    private readonly double maxLogScale;

    public ProjectionHeads(ProjectionHeadOptions options, Device? device = null, int seed = 7) : base(nameof(ProjectionHeads))
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        torch.manual_seed(seed);
        image = Head(options.ImageInputDim, options);
        text = Head(options.TextInputDim, options);
        logitScale = nn.Parameter(torch.tensor(Math.Log(1 / options.InitialTemperature), ScalarType.Float32));
        maxLogScale = Math.Log(options.MaxLogitScale);
        RegisterComponents();
        Device = device ?? torch.CPU;
        this.to(Device);
    }

    public ProjectionHeadOptions Options { get; }

    public Device Device { get; }

    /// <summary>Symmetric InfoNCE of matching rows of backbone image and text features.</summary>
    public override Tensor forward(Tensor imageFeatures, Tensor textFeatures) =>
        ContrastiveTraining.SymmetricInfoNce(EmbedImages(imageFeatures), EmbedTexts(textFeatures), logitScale, maxLogScale);

    public Tensor EmbedImages(Tensor features) => Project(image, features);

    public Tensor EmbedTexts(Tensor features) => Project(text, features);

    /// <summary>v_i (flat rows of d) for backbone image features (flat rows of 512).</summary>
    public float[] ProjectImages(float[] features) => Run(features, Options.ImageInputDim, image);

    /// <summary>v_t (flat rows of d) for backbone text features (flat rows of 384).</summary>
    public float[] ProjectTexts(float[] features) => Run(features, Options.TextInputDim, text);

    /// <summary>Trains both heads on backbone features with <see cref="DualEncoderTrainer"/>'s loop and loss.</summary>
    /// <param name="imageFeatures">Backbone rows of the train images.</param>
    /// <param name="captionFeatures">Backbone rows of their captions.</param>
    /// <param name="captionImage">For each caption, the index of its image.</param>
    public TrainingReport Train(float[] imageFeatures, float[] captionFeatures, int[] captionImage, DualEncoderTrainingOptions options,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        ArgumentNullException.ThrowIfNull(imageFeatures);
        ArgumentNullException.ThrowIfNull(captionFeatures);
        var (imageWidth, textWidth) = (Options.ImageInputDim, Options.TextInputDim);
        var imageCount = imageFeatures.Length / imageWidth;
        var captionsOf = new CaptionData(new int[captionImage.Length], 1, captionImage).CaptionsByImage(imageCount);
        var images = torch.tensor(imageFeatures, [imageCount, imageWidth], ScalarType.Float32);
        var texts = torch.tensor(captionFeatures, [captionFeatures.Length / textWidth, textWidth], ScalarType.Float32);
        try
        {
            return ContrastiveTraining.Train(this, captionsOf, options, Stage, (batch, chosen, _) =>
                call(images.index_select(0, torch.tensor(batch.Select(i => (long)i).ToArray())).to(Device),
                    texts.index_select(0, torch.tensor(chosen.Select(i => (long)i).ToArray())).to(Device)), progress, cancellationToken);
        }
        finally
        {
            images.Dispose();
            texts.Dispose();
        }
    }

    public void Save(string path) => ModelFiles.Save(this, Options, path);

    public static ProjectionHeads Load(string path, Device? device = null)
    {
        var options = ModelFiles.ReadOptions<ProjectionHeadOptions>(path, "projection heads", "train the encoder stage with --encoder pretrained.");
        var model = new ProjectionHeads(options, device);
        model.load(path);
        return model;
    }

    private static Tensor Project(Sequential head, Tensor features) =>
        nn.functional.normalize(head.call(nn.functional.normalize(features, dim: 1)), dim: 1);

    private static Sequential Head(int input, ProjectionHeadOptions options) => options.HiddenDim == 0
        ? nn.Sequential(nn.Linear(input, options.EmbeddingDim))
        : nn.Sequential(nn.Linear(input, options.HiddenDim), nn.GELU(), nn.Linear(options.HiddenDim, options.EmbeddingDim));

    private float[] Run(float[] features, int width, Sequential head)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (features.Length % width != 0) throw new ArgumentException($"{features.Length} floats are not rows of {width}.", nameof(features));
        var rows = features.Length / width;
        var result = new float[(long)rows * Options.EmbeddingDim];
        Inference.InBatches(this, rows, InferenceBatch, (start, count) =>
        {
            var input = torch.tensor(features.AsSpan(start * width, count * width).ToArray(), [count, width], ScalarType.Float32, Device);
            Project(head, input).to(torch.CPU).contiguous().data<float>().CopyTo(result.AsSpan(start * Options.EmbeddingDim, count * Options.EmbeddingDim));
        });
        return result;
    }
}
