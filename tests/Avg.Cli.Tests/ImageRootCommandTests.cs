using System.Text.Json.Nodes;
using Avg.Tests.Support;

namespace Avg.Cli.Tests;

/// <summary>`--image-root`: datasets whose split JSON sits apart from the image folder (Flickr30K, MS-COCO), and the errors when it does not fit.</summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public class ImageRootCommandTests
{
    // A tiny scratch model: a few seconds to train on 16 × 16 images.
    private static readonly string[] Tiny =
    [
        "--image-size", "16", "--image-channels", "4,8", "--encoder-epochs", "1", "--codebook", "4", "--levels", "2", "--fine-levels", "0",
        "--tokenizer-epochs", "2", "--generator-epochs", "1", "--generator-dim", "32", "--generator-layers", "1", "--device", "cpu", "--threads", "1",
    ];

    [Fact]
    public async Task Train_and_eval_read_the_images_from_the_image_root_and_measure_the_same_as_beside_the_json()
    {
        using var dir = new TempDirectory();
        // The usual layout: dataset.json beside images/.
        var together = Path.Combine(dir.Path, "together");
        TinyDataset.Write(together, images: 8);
        // Flickr30K's layout: the JSON in one folder, the image folder elsewhere (the same files).
        var apart = Path.Combine(dir.Path, "apart");
        var root = Path.Combine(dir.Path, "pictures");
        TinyDataset.Write(root, images: 8);
        Directory.CreateDirectory(apart);
        File.Move(Path.Combine(root, "dataset.json"), Path.Combine(apart, "dataset.json"));

        // Without --image-root the images are looked for beside the JSON, and the error says what to pass.
        (await CliRun.Of(["train", "--data", apart, "--out", dir.File("none"), .. Tiny]))
            .ShouldBeUserError("image files missing: images/000.png, images/001.png, images/002.png and more");

        var a = await CliRun.Of(["train", "--data", together, "--out", dir.File("a"), .. Tiny]);
        a.ExitCode.ShouldBe(0, a.Error);
        var b = await CliRun.Of(["train", "--data", apart, "--image-root", root, "--out", dir.File("b"), .. Tiny]);
        b.ExitCode.ShouldBe(0, b.Error);

        var evalA = await CliRun.Of("eval", "--bundle", dir.File("a"), "--data", together, "--split", "test", "--beam", "4", "--device", "cpu", "--json", dir.File("a.json"));
        evalA.ExitCode.ShouldBe(0, evalA.Error);
        var evalB = await CliRun.Of("eval", "--bundle", dir.File("b"), "--data", apart, "--image-root", root, "--split", "test", "--beam", "4", "--device", "cpu", "--json", dir.File("b.json"));
        evalB.ExitCode.ShouldBe(0, evalB.Error);

        // The same pixels read through another path give the same figures.
        var reportA = JsonNode.Parse(File.ReadAllText(dir.File("a.json")))!;
        var reportB = JsonNode.Parse(File.ReadAllText(dir.File("b.json")))!;
        ((int)reportB["images"]!).ShouldBe(2);
        ((int)reportB["queries"]!).ShouldBe(4);
        foreach (var method in new[] { "avg", "two_tower" })
        {
            foreach (var key in new[] { "r1", "r5", "r10" })
                ((double)reportB["methods"]![method]![key]!).ShouldBe((double)reportA["methods"]![method]![key]!, $"{method} {key}");
        }

        // Evaluating the apart layout without --image-root fails before any work, naming the file and the flag.
        var error = await CliRun.Of("eval", "--bundle", dir.File("b"), "--data", apart, "--device", "cpu");
        error.ShouldBeUserError("image files missing: images/003.png");
        error.Error.ShouldContain("--image-root");
    }

    [Fact]
    public async Task A_missing_image_root_or_image_is_one_line_naming_the_flag_and_the_file()
    {
        using var dir = new TempDirectory();
        TinyDataset.Write(dir.Path, images: 4);
        var nowhere = dir.File("no-such-folder");
        foreach (var command in new[] { "train", "eval", "index" })
        {
            string[] args = command switch
            {
                "train" => ["train", "--data", dir.Path, "--image-root", nowhere, "--out", dir.File("b")],
                "eval" => ["eval", "--bundle", dir.File("b"), "--data", dir.Path, "--image-root", nowhere],
                _ => ["index", "--endpoint", "http://127.0.0.1:9", "--data", dir.Path, "--image-root", nowhere],
            };
            (await CliRun.Of(args)).ShouldBeUserError($"--image-root {nowhere}: no such folder");
        }
        (await CliRun.Of("data", "check", "--data", dir.Path, "--image-root", dir.File("dataset.json")))
            .ShouldBeUserError("--image-root " + dir.File("dataset.json") + ": is a file");

        File.Delete(dir.File("images/003.png"));
        var missing = await CliRun.Of("train", "--data", dir.Path, "--image-root", dir.Path, "--out", dir.File("b"));
        missing.ShouldBeUserError("image files missing: images/003.png (the JSON's file names are read relative to this folder; pass --image-root");
        missing.Error.ShouldContain(dir.Path);
        Directory.Exists(dir.File("b")).ShouldBeFalse();
    }
}
