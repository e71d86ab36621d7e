using Avg.Data;
using Avg.Tests.Support;
using SkiaSharp;

namespace Avg.Core.Tests.Data;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class FeaturesAndImagesTests
{
    [Fact]
    public void Features_matching_the_dataset_load()
    {
        using var dir = new TempDirectory();
        TinyDataset.Write(dir.Path, images: 4);
        var dataset = KarpathyReader.Load(dir.Path);
        NpyMatrix.Write(dir.File("img.npy"), new float[4 * 8], 4, 8);
        NpyMatrix.Write(dir.File("cap.npy"), new float[8 * 8], 8, 8);

        var features = PrecomputedFeatures.Load(dataset, dir.File("img.npy"), dir.File("cap.npy"));

        features.Width.ShouldBe(8);
        features.Captions.Length.ShouldBe(64);
    }

    [Fact]
    public void Image_feature_rows_must_equal_image_count()
    {
        using var dir = new TempDirectory();
        TinyDataset.Write(dir.Path, images: 4);
        NpyMatrix.Write(dir.File("img.npy"), new float[3 * 8], 3, 8);
        NpyMatrix.Write(dir.File("cap.npy"), new float[8 * 8], 8, 8);

        var message = Should.Throw<DataFormatException>(() =>
            PrecomputedFeatures.Load(KarpathyReader.Load(dir.Path), dir.File("img.npy"), dir.File("cap.npy"))).Message;

        message.ShouldContain("img.npy: has 3 rows, expected 4 (one per image in dataset.json)");
    }

    [Fact]
    public void Caption_feature_rows_must_equal_caption_count()
    {
        using var dir = new TempDirectory();
        TinyDataset.Write(dir.Path, images: 4);
        NpyMatrix.Write(dir.File("img.npy"), new float[4 * 8], 4, 8);
        NpyMatrix.Write(dir.File("cap.npy"), new float[4 * 8], 4, 8);

        var message = Should.Throw<DataFormatException>(() =>
            PrecomputedFeatures.Load(KarpathyReader.Load(dir.Path), dir.File("img.npy"), dir.File("cap.npy"))).Message;

        message.ShouldContain("cap.npy: has 4 rows, expected 8 (one per caption in dataset.json)");
    }

    [Fact]
    public void Feature_widths_must_agree_and_values_be_finite()
    {
        using var dir = new TempDirectory();
        TinyDataset.Write(dir.Path, images: 4);
        var dataset = KarpathyReader.Load(dir.Path);
        NpyMatrix.Write(dir.File("img.npy"), new float[4 * 8], 4, 8);
        NpyMatrix.Write(dir.File("cap.npy"), new float[8 * 6], 8, 6);
        Should.Throw<DataFormatException>(() => PrecomputedFeatures.Load(dataset, dir.File("img.npy"), dir.File("cap.npy")))
            .Message.ShouldContain("has 6 columns, expected 8");

        var withNaN = new float[8 * 8];
        withNaN[13] = float.NaN;
        NpyMatrix.Write(dir.File("cap.npy"), withNaN, 8, 8);
        Should.Throw<DataFormatException>(() => PrecomputedFeatures.Load(dataset, dir.File("img.npy"), dir.File("cap.npy")))
            .Message.ShouldContain("row 1 column 5 is NaN");
    }

    [Fact]
    public void Decodes_png_to_planar_rgb_and_resizes()
    {
        using var dir = new TempDirectory();
        TinyDataset.WritePng(dir.File("c.png"), new SKColor(200, 100, 50), size: 32);

        var rgb = ImageDecoder.DecodeFile(dir.File("c.png"), size: 16);

        rgb.Length.ShouldBe(3 * 16 * 16);
        rgb[0].ShouldBe((byte)200);
        rgb[256].ShouldBe((byte)100);
        rgb[512 + 255].ShouldBe((byte)50);
    }

    [Fact]
    public void Decodes_jpeg()
    {
        using var dir = new TempDirectory();
        using (var bitmap = new SKBitmap(8, 8))
        {
            bitmap.Erase(new SKColor(0, 0, 255));
            using var image = SKImage.FromBitmap(bitmap);
            using var jpeg = image.Encode(SKEncodedImageFormat.Jpeg, 95);
            File.WriteAllBytes(dir.File("b.jpg"), jpeg.ToArray());
        }

        var rgb = ImageDecoder.DecodeFile(dir.File("b.jpg"), size: 8);

        ((int)rgb[2 * 64]).ShouldBeGreaterThan(240);
        ((int)rgb[0]).ShouldBeLessThan(16);
    }

    [Fact]
    public void Unreadable_and_missing_images_name_the_file()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("broken.png"), [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]);
        var broken = Should.Throw<DataFormatException>(() => ImageDecoder.DecodeFile(dir.File("broken.png"), 16));
        broken.Message.ShouldBe($"{dir.File("broken.png")}: not a decodable image (7 bytes); expected PNG or JPEG");

        Should.Throw<DataFormatException>(() => ImageDecoder.DecodeFile(dir.File("none.png"), 16))
            .Message.ShouldBe($"{dir.File("none.png")}: image file not found");
    }

    [Fact]
    public void Batched_decoding_streams_and_reports_the_bad_file_plainly()
    {
        using var dir = new TempDirectory();
        TinyDataset.Write(dir.Path, images: 8, size: 8);
        var dataset = KarpathyReader.Load(dir.Path);

        var batches = ImageDecoder.DecodeInBatches(dataset, dataset.Images, 8, batchSize: 3).ToList();
        batches.Select(b => b.Count).ShouldBe([3, 3, 2]);

        File.WriteAllText(Path.Combine(dir.Path, "images", "005.png"), "not an image");
        Should.Throw<DataFormatException>(() => ImageDecoder.DecodeInBatches(dataset, dataset.Images, 8, batchSize: 3).ToList())
            .Message.ShouldContain("005.png: not a decodable image");
    }
}
