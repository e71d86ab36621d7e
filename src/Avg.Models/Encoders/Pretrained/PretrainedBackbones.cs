using Avg.Data;

namespace Avg.Models.Encoders.Pretrained;

/// <summary>What a bundle records about the backbones under its heads, so it is loaded only with the same ones.</summary>
public sealed record BackboneRecord
{
    public string Image { get; init; } = ResNet18Backbone.Name;

    public string ImageSha256 { get; init; } = "";

    public string Text { get; init; } = MiniLmBackbone.Name;

    public string TextSha256 { get; init; } = "";
}

/// <summary>The two frozen backbones together, and their outputs for a whole dataset through the feature cache.</summary>
public sealed class PretrainedBackbones : IDisposable
{
    /// <summary>Images and captions per backbone run.</summary>
    public const int DefaultBatch = 32;

    public PretrainedBackbones(string? directory = null, int threads = 0)
    {
        Image = new ResNet18Backbone(directory, threads);
        Text = new MiniLmBackbone(directory, threads);
    }

    public ResNet18Backbone Image { get; }

    public MiniLmBackbone Text { get; }

    public BackboneRecord Record => new() { ImageSha256 = Image.Sha256, TextSha256 = Text.Sha256 };

    /// <summary>Refuses backbones other than the ones <paramref name="record"/> names.</summary>
    public void Verify(BackboneRecord record, string bundle)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.ImageSha256 != Image.Sha256 || record.TextSha256 != Text.Sha256)
        {
            throw new AvgException($"{bundle}: trained on backbones {record.Image} {Short(record.ImageSha256)} and {record.Text} {Short(record.TextSha256)}, " +
                $"but this build ships {ResNet18Backbone.Name} {Short(Image.Sha256)} and {MiniLmBackbone.Name} {Short(Text.Sha256)}; retrain the bundle with this build");
        }
    }

    /// <summary>
    /// Backbone features of every image (rows of 512) and every caption (rows of 384) of <paramref name="dataset"/>, in
    /// dataset order, from the cache when it holds them; progress as stages "resnet18" and "minilm".
    /// </summary>
    public (float[] Images, float[] Captions) ForDataset(KarpathyDataset dataset, IProgress<TrainingProgress>? progress = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var folder = Path.GetDirectoryName(Path.GetFullPath(dataset.JsonPath))!;
        var imageName = BackboneFeatureCache.ImageCacheName(ResNet18Backbone.Name, folder, dataset.ImageRoot);
        var images = BackboneFeatureCache.GetOrCompute(folder, imageName, Image.Sha256, dataset.Images.Count, ResNet18Backbone.Width,
            () => Image.Encode(DatasetImages(dataset), DefaultBatch, done => progress?.Report(new TrainingProgress(ResNet18Backbone.Name, 0, done, dataset.Images.Count, 0))), log);
        var texts = new string[dataset.CaptionCount];
        foreach (var image in dataset.Images)
            for (var c = 0; c < image.Captions.Count; c++) texts[image.FirstCaption + c] = image.Captions[c];
        var captions = BackboneFeatureCache.GetOrCompute(folder, MiniLmBackbone.Name, Text.Sha256, texts.Length, MiniLmBackbone.Width,
            () => Text.Encode(texts, DefaultBatch, done => progress?.Report(new TrainingProgress(MiniLmBackbone.Name, 0, done, texts.Length, 0))), log);
        return (images, captions);
    }

    public void Dispose()
    {
        Image.Dispose();
        Text.Dispose();
    }

    /// <summary>The dataset's images decoded at the backbone's input size, a batch at a time (in parallel within it).</summary>
    private static ImageData DatasetImages(KarpathyDataset dataset)
    {
        var size = ResNet18Backbone.InputSize;
        var bytes = ImageDecoder.BytesPerImage(size);
        return new ImageData(dataset.Images.Count, size, size, (indices, destination) =>
        {
            var wanted = indices.ToArray();
            var pixels = new byte[wanted.Length * bytes];
            Parallel.For(0, wanted.Length, k => ImageDecoder.DecodeFile(dataset.ImagePath(dataset.Images[wanted[k]]), size, pixels.AsSpan(k * bytes, bytes)));
            pixels.CopyTo(destination);
        });
    }

    private static string Short(string sha256) => sha256.Length >= 12 ? sha256[..12] : sha256;
}
