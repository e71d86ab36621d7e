using System.Globalization;
using Avg.Models.Encoders;
using Avg.Models.Encoders.Pretrained;
using Avg.Tests.Support;

namespace Avg.Models.Tests.Pretrained;

/// <summary>The frozen backbones give known outputs for fixed inputs, and batches give what single inputs give.</summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public sealed class BackboneTests
{
    /// <summary>A fixed 64 × 64 image: red rises left to right, green top to bottom, blue along the diagonal, varied per image.</summary>
    internal static ImageData SyntheticImages(int count, int size = 64) =>
        ImageData.FromBytes(Enumerable.Range(0, count).SelectMany(seed => Synthetic(seed, size)).ToArray(), count, size, size);

    private static byte[] Synthetic(int seed, int size)
    {
        var pixels = new byte[3 * size * size];
        for (var y = 0; y < size; y++)
        {
            for (var x = 0; x < size; x++)
            {
                pixels[(y * size) + x] = (byte)((x * 255 / (size - 1)) ^ (seed * 40));
                pixels[(size * size) + (y * size) + x] = (byte)(y * 255 / (size - 1));
                pixels[(2 * size * size) + (y * size) + x] = (byte)(((x + y) * 2 + (seed * 70)) % 256);
            }
        }
        return pixels;
    }

    internal static string Digest(float[] vector, int start = 0) =>
        string.Join(" ", vector.Skip(start).Take(8).Select(v => Math.Round(v, 4).ToString("F4", CultureInfo.InvariantCulture)));

    /// <summary>ResNet features are mostly zero after its last ReLU: the eight largest, with their indices, say more.</summary>
    internal static string TopDigest(float[] vector) =>
        string.Join(" ", vector.Select((v, i) => (v, i)).OrderByDescending(p => p.v).Take(8)
            .Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.i}:{Math.Round(p.v, 4):F4}")));

    [Fact]
    public void ResNet18_gives_the_known_features_of_a_fixed_image()
    {
        using var backbone = new ResNet18Backbone(threads: 2);
        var features = backbone.Encode(SyntheticImages(1));
        features.Length.ShouldBe(ResNet18Backbone.Width);
        TopDigest(features).ShouldBe("397:11.6177 290:10.3204 133:8.5689 420:8.4178 150:7.0496 387:6.4894 71:5.9193 453:4.7913");
    }

    [Fact]
    public void ResNet18_batches_give_what_single_images_give()
    {
        using var backbone = new ResNet18Backbone(threads: 2);
        var images = SyntheticImages(3);
        var batched = backbone.Encode(images, batchSize: 3);
        var single = backbone.Encode(images, batchSize: 1);
        for (var i = 0; i < batched.Length; i++) batched[i].ShouldBe(single[i], 1e-3);
        Digest(batched, 2 * ResNet18Backbone.Width).ShouldNotBe(Digest(batched));
    }

    [Fact]
    public void MiniLm_gives_the_known_unit_vector_of_a_fixed_sentence()
    {
        using var backbone = new MiniLmBackbone(threads: 2);
        var vector = backbone.Encode(["A red circle above a small blue square."]);
        vector.Length.ShouldBe(MiniLmBackbone.Width);
        Math.Sqrt(vector.Sum(v => (double)v * v)).ShouldBe(1, 1e-5);
        Digest(vector).ShouldBe("0.0557 0.0353 -0.1036 0.0807 -0.0258 -0.0136 0.0358 0.0395");
    }

    [Fact]
    public void MiniLm_batches_pad_without_changing_vectors_and_place_paraphrases_close()
    {
        using var backbone = new MiniLmBackbone(threads: 2);
        string[] texts = ["a red circle", "a crimson ring drawn on white paper", "the stock market fell sharply today"];
        var batched = backbone.Encode(texts, batchSize: 3);
        var single = backbone.Encode(texts, batchSize: 1);
        for (var i = 0; i < batched.Length; i++) batched[i].ShouldBe(single[i], 1e-4);
        double Cosine(int a, int b) => Enumerable.Range(0, MiniLmBackbone.Width).Sum(k => (double)batched[(a * MiniLmBackbone.Width) + k] * batched[(b * MiniLmBackbone.Width) + k]);
        Cosine(0, 1).ShouldBeGreaterThan(Cosine(0, 2));
    }
}
