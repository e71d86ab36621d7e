using System.Text.Json.Nodes;
using Avg.Tests.Support;

namespace Avg.Cli.Tests;

/// <summary>
/// The default preset's generator for the pretrained encoder reads the query's text vector and distils the two-tower
/// ranking, with 8 fine codes per image (docs/training.md, "The default recipe with the pretrained encoder"), and its
/// bundles record beam 80 and collision weight 100 as their searches' defaults (docs/training.md, "Search defaults");
/// the paper preset and given flags do not.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public class PretrainedPresetCommandTests
{
    private static readonly string[] Tiny =
    [
        "--encoder", "pretrained", "--encoder-epochs", "1", "--codebook", "4", "--levels", "2",
        "--tokenizer-epochs", "1", "--generator-epochs", "1", "--generator-dim", "32", "--generator-layers", "1", "--device", "cpu", "--threads", "1",
    ];

    [Fact]
    public async Task The_pretrained_default_reads_the_text_vector_and_distils_unless_the_paper_preset_or_a_flag_says_otherwise()
    {
        using var dir = new TempDirectory();
        TinyDataset.Write(dir.Path, images: 8);

        var byDefault = await CliRun.Of(["train", "--data", dir.Path, "--out", dir.File("d"), .. Tiny]);
        byDefault.ExitCode.ShouldBe(0, byDefault.Error);
        Settings(dir.File("d")).ShouldBe((true, 0.5, 256, 8, 80, 100.0), "the heads' embedding width is the slot's");

        var paper = await CliRun.Of(["train", "--data", dir.Path, "--out", dir.File("p"), "--preset", "paper", .. Tiny]);
        paper.ExitCode.ShouldBe(0, paper.Error);
        Settings(dir.File("p")).ShouldBe((false, 0.0, 0, 0, 20, 30.0));

        var given = await CliRun.Of(["train", "--data", dir.Path, "--out", dir.File("g"), "--generator-text-vector", "false", "--distill", "0.3", "--fine-levels", "2", "--search-beam", "3", .. Tiny]);
        given.ExitCode.ShouldBe(0, given.Error);
        Settings(dir.File("g")).ShouldBe((false, 0.3, 0, 2, 3, 100.0));

        // The generator stage alone, from a pretrained bundle: the encoder kind is the bundle's, so the same default.
        var stage = await CliRun.Of("train", "--data", dir.Path, "--out", dir.File("s"), "--stage", "generator", "--from", dir.File("p"),
            "--generator-epochs", "1", "--generator-dim", "32", "--generator-layers", "1", "--device", "cpu", "--threads", "1");
        stage.ExitCode.ShouldBe(0, stage.Error);
        Settings(dir.File("s")).ShouldBe((true, 0.5, 256, 8, 80, 100.0));

        // The fine stage alone keeps the generator of --from (the paper's here) and takes the fine codes and search
        // defaults of the command line's preset.
        var fine = await CliRun.Of("train", "--data", dir.Path, "--out", dir.File("f"), "--stage", "fine", "--from", dir.File("p"), "--device", "cpu", "--threads", "1");
        fine.ExitCode.ShouldBe(0, fine.Error);
        Settings(dir.File("f")).ShouldBe((false, 0.0, 0, 8, 80, 100.0));

        var eval = await CliRun.Of("eval", "--bundle", dir.File("d"), "--data", dir.Path, "--split", "test", "--beam", "4", "--device", "cpu", "--json", dir.File("d.json"));
        eval.ExitCode.ShouldBe(0, eval.Error);
        Searched(dir.File("d.json")).ShouldBe((4, 4, 100.0), "a given beam wins over the bundle's");

        // Without --beam and --collision-weight, eval searches with what the bundle records.
        var byBundle = await CliRun.Of("eval", "--bundle", dir.File("g"), "--data", dir.Path, "--split", "test", "--device", "cpu", "--json", dir.File("g.json"));
        byBundle.ExitCode.ShouldBe(0, byBundle.Error);
        Searched(dir.File("g.json")).ShouldBe((3, 3, 100.0));
        byBundle.Output.ShouldContain("beam 3, collision weight 100");
        var weighted = await CliRun.Of("eval", "--bundle", dir.File("g"), "--data", dir.Path, "--split", "test", "--collision-weight", "7", "--device", "cpu", "--json", dir.File("w.json"));
        weighted.ExitCode.ShouldBe(0, weighted.Error);
        Searched(dir.File("w.json")).ShouldBe((3, 3, 7.0));
    }

    /// <summary>The eval report's beam, and the beam and collision weight its avg_ranked figures were measured with.</summary>
    private static (int Beam, int RankedBeam, double CollisionWeight) Searched(string report)
    {
        var json = JsonNode.Parse(File.ReadAllText(report))!;
        var ranked = json["methods"]!["avg_ranked"]!;
        return ((int)json["beam"]!, (int)ranked["beam"]!, (double)ranked["collision_weight"]!);
    }

    /// <summary>
    /// What the bundle records: the text vector and distillation flags of its training, its generator's slot width, and
    /// the fine codes per image it holds (config.json's <c>FineLevels</c>, absent when none) and its searches' defaults.
    /// </summary>
    private static (bool TextVector, double Distill, int SlotWidth, int FineLevels, int Beam, double CollisionWeight) Settings(string bundle)
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(bundle, "config.json")))!;
        var training = config["Training"]!;
        var generator = JsonNode.Parse(File.ReadAllText(Path.Combine(bundle, "generator.bin.json")))!;
        return ((bool)training["GeneratorTextVector"]!, (double)training["DistillWeight"]!, (int)(generator["TextVectorWidth"] ?? 0),
            (int)(config["FineLevels"] ?? 0), (int)config["Search"]!["Beam"]!, (double)config["Search"]!["CollisionWeight"]!);
    }
}
