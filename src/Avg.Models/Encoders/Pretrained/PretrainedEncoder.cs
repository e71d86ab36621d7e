using Avg.Models.Bundles;
using Avg.Models.Pipeline;
using TorchSharp;

namespace Avg.Models.Encoders.Pretrained;

/// <summary>A pretrained bundle's source of v_i and v_t: the frozen backbones it names, then its projection heads.</summary>
public sealed class PretrainedEncoder : IDisposable
{
    internal PretrainedEncoder(PretrainedBackbones backbones, ProjectionHeads heads)
    {
        Backbones = backbones;
        Heads = heads;
    }

    public PretrainedBackbones Backbones { get; }

    public ProjectionHeads Heads { get; }

    /// <summary>Loads the bundle's heads and the backbones beside the binaries; refuses backbones whose SHA-256 differs from the bundle's.</summary>
    public static PretrainedEncoder Open(ModelBundle bundle, BundleConfig config, torch.Device device, int threads = 0, string? backboneDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        ArgumentNullException.ThrowIfNull(config);
        var record = config.Backbones ?? throw new AvgException($"{bundle.Directory}: config.json names no backbones for its pretrained encoder; retrain the bundle");
        var backbones = new PretrainedBackbones(backboneDirectory, threads);
        try
        {
            backbones.Verify(record, bundle.Directory);
            var heads = ProjectionHeads.Load(bundle.PathOf(BundleFiles.Heads), device);
            heads.eval();
            return new PretrainedEncoder(backbones, heads);
        }
        catch
        {
            backbones.Dispose();
            throw;
        }
    }

    /// <summary>v_i from decoded pixels (any size: the backbone resizes to 224).</summary>
    public float[] EncodeImages(ImageData images) => Heads.ProjectImages(Backbones.Image.Encode(images, PretrainedBackbones.DefaultBatch));

    /// <summary>v_t from raw texts.</summary>
    public float[] EncodeTexts(IReadOnlyList<string> texts) => Heads.ProjectTexts(Backbones.Text.Encode(texts, PretrainedBackbones.DefaultBatch));

    public void Dispose()
    {
        Backbones.Dispose();
        Heads.Dispose();
    }
}
