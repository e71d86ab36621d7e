using Avg.Data;
using Avg.Tests.Support;

namespace Avg.Core.Tests.Data;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class KarpathyReaderTests
{
    [Fact]
    public void Loads_images_captions_and_splits_in_file_order()
    {
        using var dir = new TempDirectory();
        TinyDataset.Write(dir.Path, images: 4);

        var dataset = KarpathyReader.Load(dir.Path);

        dataset.Name.ShouldBe("tiny");
        dataset.Images.Count.ShouldBe(4);
        dataset.CaptionCount.ShouldBe(8);
        dataset.Images.Select(i => i.Split).ShouldBe([Split.Train, Split.Train, Split.Val, Split.Test]);
        dataset.Images[2].FirstCaption.ShouldBe(4);
        dataset.Images[3].Captions[0].ShouldBe("a yellow square");
        File.Exists(dataset.ImagePath(dataset.Images[0])).ShouldBeTrue();
    }

    [Fact]
    public void Restval_counts_as_train_and_filepath_prefixes_the_file_name()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("dataset.json"),
            """{"images":[{"filepath":"val2014","filename":"a.jpg","imgid":7,"split":"restval","sentences":[{"raw":"x"}]}]}""");

        var image = KarpathyReader.Load(dir.Path).Images.Single();

        image.Split.ShouldBe(Split.Train);
        image.ImageId.ShouldBe(7);
        image.FileName.ShouldBe(Path.Combine("val2014", "a.jpg"));
    }

    [Fact]
    public void Missing_path_is_named_in_the_error()
    {
        var missing = Path.Combine(Path.GetTempPath(), "no-such-dataset-" + Guid.NewGuid().ToString("N"));
        var error = Should.Throw<DataFormatException>(() => KarpathyReader.Load(missing));
        error.Message.ShouldStartWith(missing);
        error.Message.ShouldContain("not found");
    }

    [Fact]
    public void Folder_without_json_says_what_it_expected()
    {
        using var dir = new TempDirectory();
        Should.Throw<DataFormatException>(() => KarpathyReader.Load(dir.Path)).Message.ShouldContain("no dataset.json");
    }

    [Fact]
    public void Malformed_json_reports_line_and_position()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("dataset.json"), "{\"images\": [\n  {\"filename\": \"a.png\",, }\n]}");

        var error = Should.Throw<DataFormatException>(() => KarpathyReader.Load(dir.Path));

        error.Message.ShouldContain("dataset.json");
        error.Message.ShouldContain("malformed JSON at line 2");
    }

    [Fact]
    public void Json_without_images_array_is_refused()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("dataset.json"), """{"annotations": []}""");
        Should.Throw<DataFormatException>(() => KarpathyReader.Load(dir.Path)).Message.ShouldContain("\"images\" array");
    }

    [Fact]
    public void Unknown_split_names_the_value_and_the_choices()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("dataset.json"), """{"images":[{"filename":"a.png","split":"holdout","sentences":[]}]}""");
        var message = Should.Throw<DataFormatException>(() => KarpathyReader.Load(dir.Path)).Message;
        message.ShouldContain("\"holdout\"");
        message.ShouldContain("train, val, test or restval");
    }

    [Fact]
    public void Missing_image_files_are_listed()
    {
        using var dir = new TempDirectory();
        TinyDataset.Write(dir.Path, images: 4);
        File.Delete(Path.Combine(dir.Path, "images", "002.png"));

        var message = Should.Throw<DataFormatException>(() => KarpathyReader.CheckImagesExist(KarpathyReader.Load(dir.Path))).Message;

        message.ShouldContain("images/002.png");
        message.ShouldContain("missing");
    }
}
