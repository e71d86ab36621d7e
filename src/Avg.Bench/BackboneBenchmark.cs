using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Avg.Models.Encoders;
using Avg.Models.Encoders.Pretrained;
using Avg.Shapes;

namespace Avg.Bench;

/// <summary>
/// How fast the frozen backbones run here: ResNet-18 images/s and all-MiniLM-L6-v2 captions/s at each batch size,
/// on synthetic 224 × 224 images and Shapes captions, after one untimed warm-up batch.
/// </summary>
public sealed class BackboneBenchmark(int images, int captions, IReadOnlyList<int> batches, int threads, TextWriter log)
{
    public JsonObject Run()
    {
        using var backbones = new PretrainedBackbones(threads: threads);
        var size = ResNet18Backbone.InputSize;
        var random = new Random(7);
        var pixels = new byte[images * 3 * size * size];
        random.NextBytes(pixels);
        var imageData = ImageData.FromBytes(pixels, images, size, size);
        var world = new ShapesWorld(new ShapesWorldOptions { Train = captions, Val = 0, Test = 0, Seed = 7 });
        var texts = Enumerable.Range(0, captions).Select(i => world.Captions(world.Scene(i))[i % ShapesWorld.CaptionsPerImage]).ToArray();
        var rows = new JsonArray();
        foreach (var batch in batches)
        {
            backbones.Image.Encode(ImageData.FromBytes(pixels.AsSpan(0, Math.Min(batch, images) * 3 * size * size).ToArray(), Math.Min(batch, images), size, size), batch);
            var clock = Stopwatch.StartNew();
            backbones.Image.Encode(imageData, batch);
            var imagesPerSecond = images / clock.Elapsed.TotalSeconds;
            backbones.Text.Encode(texts.Take(batch).ToArray(), batch);
            clock.Restart();
            backbones.Text.Encode(texts, batch);
            var captionsPerSecond = texts.Length / clock.Elapsed.TotalSeconds;
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"batch {batch}: {ResNet18Backbone.Name} {imagesPerSecond:F1} images/s, {MiniLmBackbone.Name} {captionsPerSecond:F1} captions/s"));
            rows.Add(new JsonObject
            {
                ["batch"] = batch,
                ["images_per_second"] = Math.Round(imagesPerSecond, 2),
                ["captions_per_second"] = Math.Round(captionsPerSecond, 2),
            });
        }
        return new JsonObject
        {
            ["images"] = images,
            ["captions"] = texts.Length,
            ["threads"] = threads,
            ["cores"] = Environment.ProcessorCount,
            ["resnet18_sha256"] = backbones.Image.Sha256,
            ["minilm_sha256"] = backbones.Text.Sha256,
            ["batches"] = rows,
        };
    }
}
