using Avg.Models.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Avg.Models.Encoders;

/// <summary>Encoder_v of paper eq. 1: stride-2 conv blocks, global average pool, linear to d, L2-normalised.</summary>
public sealed class ImageEncoder : nn.Module<Tensor, Tensor>
{
    // Rough per-channel statistics of natural RGB images in [0, 1]; centres the input for the first conv.
    private const double PixelMean = 0.45;
    private const double PixelStd = 0.25;

    private readonly Sequential blocks;
    private readonly Linear projection;

    public ImageEncoder(IReadOnlyList<int> channels, int embeddingDim) : base(nameof(ImageEncoder))
    {
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        var inChannels = (long)ImageData.Channels;
        for (var i = 0; i < channels.Count; i++)
        {
            layers.Add(($"conv{i}", nn.Conv2d(inChannels, channels[i], kernel_size: 3, stride: 2, padding: 1, bias: false)));
            layers.Add(($"norm{i}", nn.BatchNorm2d(channels[i])));
            layers.Add(($"act{i}", nn.GELU()));
            inChannels = channels[i];
        }
        blocks = nn.Sequential(layers);
        projection = nn.Linear(inChannels, embeddingDim);
        RegisterComponents();
    }

    /// <param name="images">B×3×H×W floats in [0, 1].</param>
    /// <returns>B×d unit vectors.</returns>
    public override Tensor forward(Tensor images)
    {
        var features = blocks.call(images.Minus(PixelMean).DividedBy(PixelStd)).mean([2, 3]);
        return nn.functional.normalize(projection.call(features), dim: 1);
    }
}
