using System.Text.Json;
using Avg.Models.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Avg.Models.Encoders;

/// <summary>
/// The two-tower model: the source of v_i and v_t for the tokenizer and the baseline every AVG result is
/// compared against. Its forward pass is the symmetric InfoNCE loss of a batch of matching (image, caption) pairs.
/// </summary>
public sealed class DualEncoder : nn.Module<Tensor, Tensor, Tensor>
{
    private const int DefaultInferenceBatch = 256;

    private readonly ImageEncoder image;
    private readonly TextEncoder text;
    private readonly Parameter logitScale;
    private readonly double maxLogScale;

    /// <summary>Creates a freshly initialised model; <paramref name="seed"/> seeds torch's global generator first, so equal seeds give equal weights.</summary>
    public DualEncoder(DualEncoderOptions options, Device? device = null, int seed = 7) : base(nameof(DualEncoder))
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        torch.manual_seed(seed);
        image = new ImageEncoder(options.ImageChannels, options.EmbeddingDim);
        text = new TextEncoder(options.VocabularySize, options.MaxTextLength, options.TextWidth, options.TextLayers, options.TextHeads, options.EmbeddingDim);
        logitScale = nn.Parameter(torch.tensor(Math.Log(1 / options.InitialTemperature), ScalarType.Float32));
        maxLogScale = Math.Log(options.MaxLogitScale);
        RegisterComponents();
        Device = device ?? torch.CPU;
        this.to(Device);
    }

    public DualEncoderOptions Options { get; }

    /// <summary>Where the weights live; inputs are moved here.</summary>
    public Device Device { get; }

    /// <summary>Current logit scale 1/τ (after the clamp).</summary>
    public double LogitScale => Math.Exp(Math.Min(logitScale.item<float>(), maxLogScale));

    /// <summary>Symmetric InfoNCE: row k of <paramref name="images"/> matches row k of <paramref name="ids"/>; all other rows are negatives.</summary>
    public override Tensor forward(Tensor images, Tensor ids)
    {
        return ContrastiveTraining.SymmetricInfoNce(image.call(images), text.call(ids), logitScale, maxLogScale);
    }

    /// <summary>B×3×H×W floats in [0, 1] → B×d unit vectors.</summary>
    public Tensor EmbedImages(Tensor images) => image.call(images);

    /// <summary>B×L int64 ids → B×d unit vectors.</summary>
    public Tensor EmbedTexts(Tensor ids) => text.call(ids);

    /// <summary>The text tower's token and position tables: the generator's text side starts from them.</summary>
    public (float[] Tokens, float[] Positions, int Width) TextEmbeddingTables() => text.EmbeddingTables();

    /// <summary>The text tower's transformer layers: the generator's encoder layers start from them.</summary>
    public TextTowerLayers TextLayers() => text.ExportLayers();

    /// <summary>v_i for every image, flat (N×d), in inference mode.</summary>
    public float[] EncodeImages(ImageData images, int batchSize = DefaultInferenceBatch)
    {
        ArgumentNullException.ThrowIfNull(images);
        var result = new float[(long)images.Count * Options.EmbeddingDim];
        var indices = Enumerable.Range(0, images.Count).ToArray();
        var buffer = new byte[batchSize * images.ImageBytes];
        RunInference(images.Count, batchSize, result, (start, count) =>
        {
            images.Loader(indices.AsSpan(start, count), buffer.AsSpan(0, count * images.ImageBytes));
            return image.call(ImageBatches.ToFloat(buffer, count, images, Device));
        });
        return result;
    }

    /// <summary>v_t for every caption row of <paramref name="ids"/> (flat, rows of MaxTextLength), flat (N×d).</summary>
    public float[] EncodeTexts(int[] ids, int batchSize = DefaultInferenceBatch)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var length = Options.MaxTextLength;
        if (ids.Length % length != 0) throw new ArgumentException($"ids has {ids.Length} entries, not a multiple of MaxTextLength {length}.", nameof(ids));
        var count = ids.Length / length;
        var result = new float[(long)count * Options.EmbeddingDim];
        RunInference(count, batchSize, result, (start, rows) =>
            text.call(torch.tensor(ids.AsSpan(start * length, rows * length).ToArray(), [rows, length], ScalarType.Int64, Device)));
        return result;
    }

    /// <summary>Writes the weights to <paramref name="path"/> and the options beside them (path + ".json").</summary>
    public void Save(string path)
    {
        ModelFiles.Save(this, Options, path);
    }

    /// <summary>Reads a model written by <see cref="Save"/>.</summary>
    public static DualEncoder Load(string path, Device? device = null)
    {
        var options = ModelFiles.ReadOptions<DualEncoderOptions>(path, "dual encoder", "train one first.");
        var model = new DualEncoder(options, device);
        model.load(path);
        return model;
    }

    private void RunInference(int count, int batchSize, float[] result, Func<int, int, Tensor> embed) =>
        Inference.InBatches(this, count, batchSize, (start, rows) =>
        {
            var vectors = embed(start, rows).to(torch.CPU).contiguous();
            vectors.data<float>().CopyTo(result.AsSpan(start * Options.EmbeddingDim, rows * Options.EmbeddingDim));
        });
}

/// <summary>Byte images to the float tensors the CNN takes.</summary>
internal static class ImageBatches
{
    private const double MaxPixel = 255;

    public static Tensor ToFloat(byte[] buffer, int count, ImageData images, Device device) =>
        torch.tensor(buffer.AsSpan(0, count * images.ImageBytes).ToArray(), [count, ImageData.Channels, images.Height, images.Width], ScalarType.Byte)
            .to(device).to_type(ScalarType.Float32).DividedBy(MaxPixel);
}
