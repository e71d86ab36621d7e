using Avg.Bench;
using Avg.Tests.Support;

namespace Avg.Cli.Tests;

/// <summary>`avg-bench` on a fresh machine: the parts that run without a trained bundle.</summary>
public class BenchCommandTests
{
    [Fact]
    public void Index_images_are_generated_into_a_cache_folder_that_does_not_exist_yet_then_reused()
    {
        using var dir = new TempDirectory();
        var cache = Path.Combine(dir.Path, "not", "yet", "there");
        var log = new StringWriter();

        var images = ShapesIndexImages.Ensure(cache, seed: 3, imageSize: 32, count: 12, log);

        images.Count.ShouldBe(12);
        images.GenerateSeconds.ShouldBeGreaterThan(0);
        Directory.EnumerateFiles(cache, "*.png", SearchOption.AllDirectories).Count().ShouldBe(12);
        images.Caption(0, 0).ShouldNotBeNullOrWhiteSpace();

        var again = ShapesIndexImages.Ensure(cache, seed: 3, imageSize: 32, count: 12, log);
        again.GenerateSeconds.ShouldBe(0);
        log.ToString().ShouldContain("reusing 12 Shapes images");
    }

    [Fact]
    public async Task A_missing_bundle_is_a_one_line_error_not_a_stack_trace()
    {
        using var dir = new TempDirectory();
        var output = new StringWriter();
        var error = new StringWriter();

        var code = await BenchApp.RunAsync(["query", "--bundle", dir.File("none"), "--cache", dir.File("cache")], output, error);

        code.ShouldBe(2);
        error.ToString().Trim().ShouldStartWith("error:");
        error.ToString().ShouldNotContain("   at ");

        var negative = new StringWriter();
        (await BenchApp.RunAsync(["query", "--bundle", dir.Path, "--prior-weight", "-0.5"], output, negative)).ShouldBe(2);
        negative.ToString().Trim().ShouldBe("error: --prior-weight must be a number ≥ 0, got -0.5");

        var zeroWidth = new StringWriter();
        (await BenchApp.RunAsync(["query", "--bundle", dir.Path, "--level-beams", "20,0,20,10"], output, zeroWidth)).ShouldBe(2);
        zeroWidth.ToString().Trim().ShouldBe("error: --level-beams: every width must be at least 1, got 20,0,20,10");
        var notANumber = new StringWriter();
        (await BenchApp.RunAsync(["query", "--bundle", dir.Path, "--level-beams", "20,wide"], output, notANumber)).ShouldBe(2);
        notANumber.ToString().Trim().ShouldStartWith("error: --level-beams: 'wide' is not a width");
    }
}
