using System.Text.Json;
using System.Text.Json.Nodes;
using Avg.Data;
using Avg.Tests.Support;

namespace Avg.Cli.Tests;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class TrainEvalCommandTests
{
    [Fact]
    public async Task Train_then_eval_writes_the_eval_json_contract()
    {
        using var dir = new TempDirectory();
        WriteFeatureSet(dir.Path, images: 10, width: 16);
        string[] features = ["--image-features", dir.File("img.npy"), "--caption-features", dir.File("cap.npy")];

        var train = await CliRun.Of(["train", "--data", dir.Path, "--out", dir.File("b"), "--codebook", "8", "--levels", "2",
            "--tokenizer-epochs", "3", "--generator-epochs", "2", "--generator-dim", "32", "--generator-layers", "1", "--device", "cpu", .. features]);
        train.ExitCode.ShouldBe(0, train.Error);
        train.Output.ShouldContain("(avg) written to");

        // N and M are not given: a later stage takes them from the --from bundle's tokenizer (8 × 2, not the defaults 64 × 4).
        var ablation = await CliRun.Of(["train", "--data", dir.Path, "--out", dir.File("irgen"), "--stage", "generator", "--from", dir.File("b"),
            "--irgen", "--generator-epochs", "1", "--generator-dim", "32", "--generator-layers", "1", "--device", "cpu", .. features]);
        ablation.ExitCode.ShouldBe(0, ablation.Error);
        ablation.Error.ShouldContain("identifiers: 8 vokens × 2 levels, from");
        var irgenConfig = JsonNode.Parse(File.ReadAllText(dir.File("irgen/config.json")))!.AsObject();
        ((int)irgenConfig["CodebookSize"]!).ShouldBe(8);
        ((int)irgenConfig["Levels"]!).ShouldBe(2);

        var eval = await CliRun.Of(["eval", "--bundle", dir.File("b"), dir.File("irgen"), "--data", dir.Path, "--split", "test", "--beam", "4",
            "--beam-sweep", "1,4", "--json", dir.File("eval.json"), "--device", "cpu", .. features]);
        eval.ExitCode.ShouldBe(0, eval.Error);

        var report = JsonNode.Parse(File.ReadAllText(dir.File("eval.json")))!.AsObject();
        ((string)report["split"]!).ShouldBe("test");
        ((int)report["images"]!).ShouldBe(5);
        ((int)report["queries"]!).ShouldBe(10);
        ((int)report["beam"]!).ShouldBe(4);
        report["methods"]!.AsObject().Select(m => m.Key).ShouldBe(["avg", "two_tower", "irgen"], ignoreOrder: true);
        foreach (var (_, method) in report["methods"]!.AsObject())
        {
            foreach (var key in new[] { "r1", "r5", "r10" })
                ((double)method![key]!).ShouldBeInRange(0, 1);
            ((double)method!["qps"]!).ShouldBeGreaterThan(0);
        }
        ((double)report["methods"]!["avg"]!["r10"]!).ShouldBeGreaterThanOrEqualTo((double)report["methods"]!["avg"]!["r1"]!);
        ((int)report["tokenizer"]!["codes_used"]!).ShouldBeInRange(1, 8);
        ((double)report["tokenizer"]!["collision_rate"]!).ShouldBeInRange(0, 1);
        report["beam_sweep"]!.AsObject().Select(b => b.Key).ShouldBe(["1", "4"]);
        eval.Output.ShouldContain("two_tower");

        var balanced = await CliRun.Of(["eval", "--bundle", dir.File("b"), "--data", dir.Path, "--split", "test", "--beam", "4",
            "--balanced", "--diagnostics", "--exhaustive", "--json", dir.File("balanced.json"), "--device", "cpu", .. features]);
        balanced.ExitCode.ShouldBe(0, balanced.Error);
        var detail = JsonNode.Parse(File.ReadAllText(dir.File("balanced.json")))!.AsObject();
        ((bool)detail["tokenizer"]!["balanced"]!).ShouldBeTrue();
        ((double)detail["tokenizer"]!["collision_rate"]!).ShouldBeLessThanOrEqualTo((double)report["tokenizer"]!["collision_rate"]!);
        ((double)detail["diagnostics"]!["decoded_dense"]!["r10"]!).ShouldBeInRange(0, 1);
        var prefixes = detail["diagnostics"]!["prefix_in_top10"]!.AsArray().Select(v => (double)v!).ToList();
        prefixes.Count.ShouldBe(2);
        prefixes[1].ShouldBeLessThanOrEqualTo(prefixes[0]); // a whole-sequence hit is also a first-voken hit
        prefixes[1].ShouldBeGreaterThanOrEqualTo((double)detail["methods"]!["avg"]!["r10"]!); // finding the image needs its sequence
        balanced.Output.ShouldContain("dense, decoded vokens");
        // Scoring every sequence ranks all 5 images, so each query finds its image in the top 10; beam 4 finds at most 4.
        ((double)detail["exhaustive"]!["r10"]!).ShouldBe(1.0);
        balanced.Output.ShouldContain("avg, every sequence");

        // A beam as wide as the trie keeps every prefix: beam search is then exhaustive and ranks the same.
        var wide = await CliRun.Of(["eval", "--bundle", dir.File("b"), "--data", dir.Path, "--split", "test", "--beam", "64",
            "--exhaustive", "--prior-weight", "0.5", "--json", dir.File("wide.json"), "--device", "cpu", .. features]);
        wide.ExitCode.ShouldBe(0, wide.Error);
        var wideReport = JsonNode.Parse(File.ReadAllText(dir.File("wide.json")))!.AsObject();
        foreach (var key in new[] { "r1", "r5", "r10" })
            ((double)wideReport["exhaustive"]![key]!).ShouldBe((double)wideReport["methods"]!["avg"]![key]!);

        // So do level beams that are wide at the first level and keep K leaves at the last.
        var levels = await CliRun.Of(["eval", "--bundle", dir.File("b"), "--data", dir.Path, "--split", "test", "--level-beams", "64,10",
            "--exhaustive", "--prior-weight", "0.5", "--json", dir.File("levels.json"), "--device", "cpu", .. features]);
        levels.ExitCode.ShouldBe(0, levels.Error);
        levels.Output.ShouldContain("level beams 64,10");
        var levelsReport = JsonNode.Parse(File.ReadAllText(dir.File("levels.json")))!.AsObject();
        levelsReport["level_beams"]!.AsArray().Select(w => (int)w!).ShouldBe([64, 10]);
        foreach (var key in new[] { "r1", "r5", "r10" })
            ((double)levelsReport["methods"]!["avg"]![key]!).ShouldBe((double)levelsReport["exhaustive"]![key]!);
        wideReport["level_beams"].ShouldBeNull();
        (await CliRun.Of(["eval", "--bundle", dir.File("b"), "--data", dir.Path, "--level-beams", "4,4,4", "--device", "cpu", .. features]))
            .ShouldBeUserError("--level-beams gives 3 widths");
        (await CliRun.Of(["eval", "--bundle", dir.File("b"), "--data", dir.Path, "--level-beams", "4,0", "--device", "cpu", .. features]))
            .ShouldBeUserError("'0' is not a positive integer");
        balanced.Output.ShouldContain("(balanced)");

        // A generator trained on balanced identifiers is evaluated on a balanced index without being told.
        var trainedBalanced = await CliRun.Of(["train", "--data", dir.Path, "--out", dir.File("bal"), "--stage", "generator", "--from", dir.File("b"),
            "--balanced-vokens", "--dis-teacher", "0.5", "--codebook", "8", "--levels", "2", "--generator-epochs", "1", "--generator-dim", "32", "--generator-layers", "1", "--device", "cpu", .. features]);
        trainedBalanced.ExitCode.ShouldBe(0, trainedBalanced.Error);
        var balancedEval = await CliRun.Of(["eval", "--bundle", dir.File("bal"), "--data", dir.Path, "--split", "test", "--beam", "4",
            "--json", dir.File("bal.json"), "--device", "cpu", .. features]);
        balancedEval.ExitCode.ShouldBe(0, balancedEval.Error);
        ((bool)JsonNode.Parse(File.ReadAllText(dir.File("bal.json")))!["tokenizer"]!["balanced"]!).ShouldBeTrue();

        // The bundle records its train voken frequencies (5 train images per level); --prior-weight divides them out of the search.
        var config = JsonNode.Parse(File.ReadAllText(dir.File("b/config.json")))!.AsObject();
        var counts = config["TrainVokenCounts"]!.AsArray();
        counts.Count.ShouldBe(2);
        foreach (var level in counts) level!.AsArray().Select(c => (int)c!).Sum().ShouldBe(5);
        // The default preset divides them out at 0.4; the paper preset ranks by the paper's score; a given weight wins.
        ((string)report["preset"]!).ShouldBe("default");
        ((double)report["prior_weight"]!).ShouldBe(0.4);
        ((double)report["methods"]!["avg"]!["prior_weight"]!).ShouldBe(0.4);
        var paper = await CliRun.Of(["eval", "--bundle", dir.File("b"), "--data", dir.Path, "--beam", "4", "--preset", "paper",
            "--json", dir.File("paper.json"), "--device", "cpu", .. features]);
        paper.ExitCode.ShouldBe(0, paper.Error);
        paper.Output.ShouldContain("preset paper");
        var paperReport = JsonNode.Parse(File.ReadAllText(dir.File("paper.json")))!.AsObject();
        ((string)paperReport["preset"]!).ShouldBe("paper");
        ((double)paperReport["prior_weight"]!).ShouldBe(0);
        ((double)paperReport["methods"]!["avg"]!["prior_weight"]!).ShouldBe(0);
        var withPrior = await CliRun.Of(["eval", "--bundle", dir.File("b"), "--data", dir.Path, "--beam", "4", "--preset", "paper", "--prior-weight", "1",
            "--json", dir.File("prior.json"), "--device", "cpu", .. features]);
        withPrior.ExitCode.ShouldBe(0, withPrior.Error);
        withPrior.Output.ShouldContain("prior weight 1");
        var priorReport = JsonNode.Parse(File.ReadAllText(dir.File("prior.json")))!.AsObject();
        ((double)priorReport["prior_weight"]!).ShouldBe(1);
        ((double)priorReport["methods"]!["avg"]!["r10"]!).ShouldBeInRange(0, 1);
        (await CliRun.Of(["eval", "--bundle", dir.File("b"), "--data", dir.Path, "--preset", "papers", "--device", "cpu", .. features]))
            .ShouldBeUserError("--preset 'papers': expected default or paper");

        // A bundle written before the frequencies were recorded is refused with the way out, before any work.
        config.Remove("TrainVokenCounts");
        File.WriteAllText(dir.File("b/config.json"), config.ToJsonString());
        Avg.Models.Bundles.ModelBundle.Seal(dir.File("b"));
        (await CliRun.Of(["eval", "--bundle", dir.File("b"), "--data", dir.Path, "--prior-weight", "0.4", "--device", "cpu", .. features]))
            .ShouldBeUserError("does not record its train voken frequencies");
        // Without a given weight it ranks by the paper's score, and the report says so for that bundle.
        var noCounts = await CliRun.Of(["eval", "--bundle", dir.File("b"), "--data", dir.Path, "--beam", "4", "--json", dir.File("nocounts.json"), "--device", "cpu", .. features]);
        noCounts.ExitCode.ShouldBe(0, noCounts.Error);
        ((double)JsonNode.Parse(File.ReadAllText(dir.File("nocounts.json")))!["methods"]!["avg"]!["prior_weight"]!).ShouldBe(0);

        // Two bundles of one method would share one entry of the report: refused, not overwritten.
        (await CliRun.Of(["eval", "--bundle", dir.File("b"), dir.File("bal"), "--data", dir.Path, "--device", "cpu", .. features]))
            .ShouldBeUserError("are both 'avg' bundles");
    }

    [Fact]
    public async Task Missing_or_damaged_bundle_is_a_one_line_error()
    {
        using var dir = new TempDirectory();
        TinyDataset.Write(dir.Path, images: 4);
        (await CliRun.Of("eval", "--bundle", dir.File("none"), "--data", dir.Path)).ShouldBeUserError("model bundle not found");

        Directory.CreateDirectory(dir.File("half"));
        File.WriteAllText(dir.File("half/generator.bin"), "x");
        (await CliRun.Of("eval", "--bundle", dir.File("half"), "--data", dir.Path)).ShouldBeUserError("not a model bundle");
    }

    /// <summary>
    /// `--stage fine` fits only the collision ranking's codebooks, with the settings the --from bundle was trained with;
    /// every other model file is the --from bundle's, byte for byte.
    /// </summary>
    [Fact]
    public async Task Stage_fine_adds_fine_codebooks_and_keeps_the_other_stages()
    {
        using var dir = new TempDirectory();
        WriteFeatureSet(dir.Path, images: 10, width: 16);
        string[] features = ["--image-features", dir.File("img.npy"), "--caption-features", dir.File("cap.npy")];
        var train = await CliRun.Of(["train", "--data", dir.Path, "--out", dir.File("b"), "--codebook", "8", "--levels", "2", "--fine-levels", "0",
            "--tokenizer-epochs", "2", "--generator-epochs", "1", "--generator-dim", "32", "--generator-layers", "1", "--device", "cpu", .. features]);
        train.ExitCode.ShouldBe(0, train.Error);
        File.Exists(dir.File("b/fine.npy")).ShouldBeFalse();
        ((int)JsonNode.Parse(File.ReadAllText(dir.File("b/config.json")))!["FineLevels"]!).ShouldBe(0);

        // Default --levels (4) differs from the bundle's 2: the stage takes the bundle's settings, not the defaults.
        var fine = await CliRun.Of(["train", "--data", dir.Path, "--out", dir.File("f"), "--stage", "fine", "--from", dir.File("b"), "--fine-levels", "3", "--device", "cpu", .. features]);
        fine.ExitCode.ShouldBe(0, fine.Error);
        (fine.Output + fine.Error).ShouldContain("fine codes: 3 × 256");
        var config = JsonNode.Parse(File.ReadAllText(dir.File("f/config.json")))!;
        ((int)config["FineLevels"]!).ShouldBe(3);
        ((int)config["FineCodes"]!).ShouldBe(256);
        ((int)config["Levels"]!).ShouldBe(2);
        foreach (var file in new[] { "tokenizer.bin", "generator.bin", "vocab.json" })
            File.ReadAllBytes(dir.File("f/" + file)).ShouldBe(File.ReadAllBytes(dir.File("b/" + file)), file);
        new FileInfo(dir.File("f/fine.npy")).Length.ShouldBeGreaterThan(3 * 256 * 16 * sizeof(float));

        (await CliRun.Of(["train", "--data", dir.Path, "--out", dir.File("g"), "--stage", "fine", "--from", dir.File("b"), "--fine-levels", "0", "--device", "cpu", .. features]))
            .ShouldBeUserError("--stage fine with --fine-levels 0 has nothing to fit");
        (await CliRun.Of(["train", "--data", dir.Path, "--out", dir.File("g"), "--fine-levels", "9", "--device", "cpu", .. features]))
            .ShouldBeUserError("--fine-levels must be between 0 and 8, got 9");
    }

    [Fact]
    public async Task Preset_paper_takes_the_papers_settings_where_none_are_given_and_the_bundle_records_it()
    {
        using var dir = new TempDirectory();
        WriteFeatureSet(dir.Path, images: 10, width: 16);
        string[] small = ["--codebook", "8", "--levels", "2", "--tokenizer-epochs", "2", "--generator-epochs", "1", "--generator-dim", "32", "--generator-layers", "1", "--device", "cpu",
            "--image-features", dir.File("img.npy"), "--caption-features", dir.File("cap.npy")];
        var paper = await CliRun.Of(["train", "--data", dir.Path, "--out", dir.File("p"), "--preset", "paper", .. small]);
        paper.ExitCode.ShouldBe(0, paper.Error);
        var training = JsonNode.Parse(File.ReadAllText(dir.File("p/config.json")))!["Training"]!;
        ((string)training["Preset"]!).ShouldBe("paper");
        ((double)training["DiscriminativeWeight"]!).ShouldBe(1);
        ((int)training["FineLevels"]!).ShouldBe(0);
        File.Exists(dir.File("p/fine.npy")).ShouldBeFalse();

        // A setting given on the command line wins over the preset's.
        var given = await CliRun.Of(["train", "--data", dir.Path, "--out", dir.File("g"), "--preset", "paper", "--dis-weight", "0.3", "--fine-levels", "1", .. small]);
        given.ExitCode.ShouldBe(0, given.Error);
        training = JsonNode.Parse(File.ReadAllText(dir.File("g/config.json")))!["Training"]!;
        ((double)training["DiscriminativeWeight"]!).ShouldBe(0.3);
        ((int)training["FineLevels"]!).ShouldBe(1);

        var byDefault = await CliRun.Of(["train", "--data", dir.Path, "--out", dir.File("d"), .. small]);
        byDefault.ExitCode.ShouldBe(0, byDefault.Error);
        training = JsonNode.Parse(File.ReadAllText(dir.File("d/config.json")))!["Training"]!;
        ((string)training["Preset"]!).ShouldBe("default");
        ((double)training["DiscriminativeWeight"]!).ShouldBe(0.1);

        (await CliRun.Of(["train", "--data", dir.Path, "--out", dir.File("x"), "--preset", "fast", .. small])).ShouldBeUserError("--preset 'fast': expected default or paper");
    }

    [Fact]
    public async Task A_single_stage_needs_the_bundle_it_builds_on()
    {
        using var dir = new TempDirectory();
        TinyDataset.Write(dir.Path, images: 4);
        (await CliRun.Of("train", "--data", dir.Path, "--out", dir.File("b"), "--stage", "generator"))
            .ShouldBeUserError("--stage generator needs --from BUNDLE");
    }

    [Fact]
    public async Task Bad_training_values_are_one_line_errors()
    {
        using var dir = new TempDirectory();
        TinyDataset.Write(dir.Path, images: 4);
        (await CliRun.Of("train", "--data", dir.Path, "--out", dir.File("b"), "--levels", "0")).ShouldBeUserError("--levels must be between 1 and 16, got 0");
        (await CliRun.Of("train", "--data", dir.Path, "--out", dir.File("b"), "--image-channels", "16,x")).ShouldBeUserError("--image-channels: 'x' is not a positive integer");
        (await CliRun.Of("eval", "--bundle", dir.File("b"), "--data", dir.Path, "--beam-sweep", "1,-5")).ShouldBeUserError("--beam-sweep: '-5' is not a positive integer");
        (await CliRun.Of("eval", "--bundle", dir.File("b"), "--data", dir.Path, "--prior-weight", "-1")).ShouldBeUserError("--prior-weight must be a number ≥ 0, got -1");
        (await CliRun.Of("eval", "--bundle", dir.File("b"), "--data", dir.Path, "--normalization", "soft")).ShouldBeUserError("--normalization 'soft': expected allowed or full");
        (await CliRun.Of("train", "--data", dir.Path, "--out", dir.File("b"), "--distill", "2")).ShouldBeUserError("--distill must be between 0 and 1, got 2");
        (await CliRun.Of("train", "--data", dir.Path, "--out", dir.File("b"), "--dis-teacher", "-0.5")).ShouldBeUserError("--dis-teacher must be between 0 and 1, got -0.5");
        (await CliRun.Of("train", "--data", dir.Path, "--out", dir.File("b"), "--generator-lr", "0")).ShouldBeUserError("--generator-lr must be in (0, 1], got 0");
        (await CliRun.Of("train", "--data", dir.Path, "--out", dir.File("b"), "--length-pool", "0")).ShouldBeUserError("--length-pool must be at least 1, got 0");
        (await CliRun.Of("train", "--data", dir.Path, "--out", dir.File("b"), "--generator-dropout", "1")).ShouldBeUserError("--generator-dropout must be in [0, 1), got 1");
        (await CliRun.Of("train", "--data", dir.Path, "--out", dir.File("b"), "--decoder-layers", "0")).ShouldBeUserError("generator layers must be at least 1");
        (await CliRun.Of("train", "--data", dir.Path, "--out", dir.File("b"), "--dis-normalization", "x")).ShouldBeUserError("--dis-normalization 'x': expected allowed or full");
    }

    /// <summary>Ten images (first half train, second half test), two captions each, with separable features.</summary>
    private static void WriteFeatureSet(string folder, int images, int width)
    {
        var random = new Random(3);
        var entries = new List<object>();
        var imageRows = new float[images * width];
        var captionRows = new float[images * 2 * width];
        for (var i = 0; i < images; i++)
        {
            for (var j = 0; j < width; j++) imageRows[(i * width) + j] = (float)random.NextDouble();
            for (var c = 0; c < 2; c++)
                for (var j = 0; j < width; j++) captionRows[(((i * 2) + c) * width) + j] = imageRows[(i * width) + j];
            var word = ((char)('a' + i)).ToString();
            entries.Add(new
            {
                filename = $"{i}.png", imgid = i, split = i < images / 2 ? "train" : "test",
                sentences = new[] { new { raw = $"thing {word}{word}" }, new { raw = $"the {word}{word}" } },
            });
        }
        File.WriteAllText(Path.Combine(folder, "dataset.json"), JsonSerializer.Serialize(new { dataset = "features", images = entries }));
        NpyMatrix.Write(Path.Combine(folder, "img.npy"), imageRows, images, width);
        NpyMatrix.Write(Path.Combine(folder, "cap.npy"), captionRows, images * 2, width);
    }

    [Fact]
    public async Task Serve_refuses_a_missing_bundle_with_one_line()
    {
        using var dir = new TempDirectory();
        (await CliRun.Of("serve", "--bundle", dir.File("nope"), "--port", "0")).ShouldBeUserError("no such directory");
        (await CliRun.Of("serve", "--bundle", dir.Path, "--roles", "cook")).ShouldBeUserError("Avg__Roles 'cook'");
    }
}
