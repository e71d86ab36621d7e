using Avg.Data;
using Avg.Tests.Support;

namespace Avg.Cli.Tests;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class DataCheckCommandTests
{
    [Fact]
    public async Task Prints_the_summary_of_a_valid_dataset()
    {
        using var dir = new TempDirectory();
        TinyDataset.Write(dir.Path, images: 4);

        var run = await CliRun.Of("data", "check", "--data", dir.Path, "--decode", "--size", "8");

        run.ExitCode.ShouldBe(0, run.Error);
        run.Output.ShouldContain("decoded: 4 images");
        run.Output.ShouldContain("dataset tiny: 4 images (train 2, val 1, test 1), 8 captions");
    }

    [Fact]
    public async Task Missing_dataset_is_a_one_line_error()
    {
        using var dir = new TempDirectory();
        (await CliRun.Of("data", "check", "--data", dir.File("nowhere"))).ShouldBeUserError("nowhere: file or folder not found");
    }

    [Fact]
    public async Task Malformed_json_is_a_one_line_error()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("dataset.json"), "{\"images\": [");
        (await CliRun.Of("data", "check", "--data", dir.Path)).ShouldBeUserError("dataset.json: malformed JSON at line 1");
    }

    [Fact]
    public async Task Missing_image_file_is_a_one_line_error()
    {
        using var dir = new TempDirectory();
        TinyDataset.Write(dir.Path, images: 4);
        File.Delete(Path.Combine(dir.Path, "images", "001.png"));
        (await CliRun.Of("data", "check", "--data", dir.Path)).ShouldBeUserError("image files missing: images/001.png");
    }

    [Fact]
    public async Task Unreadable_image_is_a_one_line_error()
    {
        using var dir = new TempDirectory();
        TinyDataset.Write(dir.Path, images: 4);
        File.WriteAllText(Path.Combine(dir.Path, "images", "003.png"), "garbage");
        (await CliRun.Of("data", "check", "--data", dir.Path, "--decode")).ShouldBeUserError("003.png: not a decodable image");
    }

    [Fact]
    public async Task Wrong_dtype_features_are_a_one_line_error()
    {
        using var dir = new TempDirectory();
        TinyDataset.Write(dir.Path, images: 4);
        NpyFixtures.WriteRaw(dir.File("img.npy"), "<f8", "(4, 8)", 256);
        NpyMatrix.Write(dir.File("cap.npy"), new float[64], 8, 8);

        (await CliRun.Of("data", "check", "--data", dir.Path, "--image-features", dir.File("img.npy"), "--caption-features", dir.File("cap.npy")))
            .ShouldBeUserError("img.npy: has dtype '<f8' (float64), expected float32");
    }

    [Fact]
    public async Task Feature_rows_not_matching_captions_are_a_one_line_error()
    {
        using var dir = new TempDirectory();
        TinyDataset.Write(dir.Path, images: 4);
        NpyMatrix.Write(dir.File("img.npy"), new float[32], 4, 8);
        NpyMatrix.Write(dir.File("cap.npy"), new float[56], 7, 8);

        (await CliRun.Of("data", "check", "--data", dir.Path, "--image-features", dir.File("img.npy"), "--caption-features", dir.File("cap.npy")))
            .ShouldBeUserError("cap.npy: has 7 rows, expected 8 (one per caption in dataset.json)");
    }

    [Fact]
    public async Task Only_one_feature_file_is_a_one_line_error()
    {
        using var dir = new TempDirectory();
        TinyDataset.Write(dir.Path, images: 4);
        NpyMatrix.Write(dir.File("img.npy"), new float[32], 4, 8);
        (await CliRun.Of("data", "check", "--data", dir.Path, "--image-features", dir.File("img.npy")))
            .ShouldBeUserError("--image-features and --caption-features go together");
    }
}
