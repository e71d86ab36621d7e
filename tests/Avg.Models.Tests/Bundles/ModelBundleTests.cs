using Avg.Models.Bundles;
using Avg.Tests.Support;

namespace Avg.Models.Tests.Bundles;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class ModelBundleTests
{
    [Fact]
    public void Sealed_bundle_opens_with_its_files_and_a_content_id()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("config.json"), "{}");
        File.WriteAllBytes(dir.File("generator.bin"), [1, 2, 3]);

        var sealedBundle = ModelBundle.Seal(dir.Path, new Dictionary<string, string> { ["dataset"] = "shapes" });
        var opened = ModelBundle.Open(dir.Path, "generator.bin");

        opened.Manifest.BundleId.ShouldBe(sealedBundle.Manifest.BundleId);
        opened.Manifest.Files!.Keys.ShouldBe(["config.json", "generator.bin"]);
        opened.Manifest.Properties!["dataset"].ShouldBe("shapes");
    }

    [Fact]
    public void Different_contents_give_different_ids()
    {
        using var a = new TempDirectory();
        using var b = new TempDirectory();
        File.WriteAllBytes(a.File("generator.bin"), [1]);
        File.WriteAllBytes(b.File("generator.bin"), [2]);
        ModelBundle.Seal(a.Path).Manifest.BundleId.ShouldNotBe(ModelBundle.Seal(b.Path).Manifest.BundleId);
    }

    [Fact]
    public void A_damaged_file_is_refused_by_name()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("generator.bin"), [1, 2, 3]);
        ModelBundle.Seal(dir.Path);
        File.WriteAllBytes(dir.File("generator.bin"), [1, 2, 4]);

        var error = Should.Throw<AvgException>(() => ModelBundle.Open(dir.Path));

        error.Message.ShouldContain("generator.bin: damaged");
    }

    [Fact]
    public void Missing_manifest_missing_file_and_missing_stage_are_refused()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("generator.bin"), [1]);
        Should.Throw<AvgException>(() => ModelBundle.Open(dir.Path)).Message.ShouldContain("not a model bundle");

        ModelBundle.Seal(dir.Path);
        Should.Throw<AvgException>(() => ModelBundle.Open(dir.Path, "tokenizer.bin")).Message.ShouldContain("bundle has no tokenizer.bin");

        File.Delete(dir.File("generator.bin"));
        Should.Throw<AvgException>(() => ModelBundle.Open(dir.Path)).Message.ShouldContain("generator.bin: missing from the bundle");
    }

    [Fact]
    public void Another_format_version_is_refused_with_what_to_do()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("generator.bin"), [1]);
        ModelBundle.Seal(dir.Path);
        var manifest = File.ReadAllText(dir.File(ModelBundle.ManifestFileName)).Replace("\"format\": 1", "\"format\": 99", StringComparison.Ordinal);
        File.WriteAllText(dir.File(ModelBundle.ManifestFileName), manifest);

        Should.Throw<AvgException>(() => ModelBundle.Open(dir.Path)).Message.ShouldContain("bundle format 99, this build reads format 1");
    }
}
