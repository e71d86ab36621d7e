using System.Text.Json;
using Avg.Cli;
using Avg.Tests.Support;

namespace Avg.Cli.Tests;

[Trait(TestCategory.Name, TestCategory.Unit)]
public sealed class ShapesCommandTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "avg-cli-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [Fact]
    public async Task Writes_the_dataset_and_a_summary()
    {
        var (code, output, error) = await RunAsync("data", "shapes", "--out", _folder, "--train", "12", "--val", "3", "--test", "2", "--seed", "5", "--size", "32");

        code.ShouldBe(0, error);
        output.ShouldContain("17 (train 12, val 3, test 2)");
        output.ShouldContain("captions  85");
        output.ShouldContain("images/s");
        error.ShouldContain("shapes: 17 / 17 images (100%)");
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(_folder, "dataset.json")));
        json.RootElement.GetProperty("images").GetArrayLength().ShouldBe(17);
        Directory.GetFiles(Path.Combine(_folder, "images"), "*.png").Length.ShouldBe(17);
    }

    [Theory]
    [InlineData("--train", "-1")]
    [InlineData("--val", "-5")]
    [InlineData("--test", "-2")]
    [InlineData("--size", "8")]
    [InlineData("--size", "1024")]
    public async Task Bad_values_are_a_one_line_error_with_exit_code_2(string option, string value)
    {
        var values = new Dictionary<string, string> { ["--train"] = "2", ["--val"] = "0", ["--test"] = "0", [option] = value };
        var (code, output, error) = await RunAsync(["data", "shapes", "--out", _folder, .. values.SelectMany(kv => new[] { kv.Key, kv.Value })]);

        code.ShouldBe(CliApp.UserErrorExitCode);
        output.ShouldBeEmpty();
        OneErrorLine(error).ShouldContain(option);
        Directory.Exists(_folder).ShouldBeFalse();
    }

    [Fact]
    public async Task A_non_empty_folder_needs_force()
    {
        Directory.CreateDirectory(_folder);
        await File.WriteAllTextAsync(Path.Combine(_folder, "notes.txt"), "keep");
        string[] args = ["data", "shapes", "--out", _folder, "--train", "2", "--val", "1", "--test", "1"];

        var (code, _, error) = await RunAsync(args);
        code.ShouldBe(CliApp.UserErrorExitCode);
        OneErrorLine(error).ShouldContain("--force");

        (code, _, error) = await RunAsync([.. args, "--force"]);
        code.ShouldBe(0, error);
        File.Exists(Path.Combine(_folder, "notes.txt")).ShouldBeTrue();
        Directory.GetFiles(Path.Combine(_folder, "images")).Length.ShouldBe(4);
    }

    private static string OneErrorLine(string error)
    {
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Length.ShouldBe(1, error);
        lines[0].ShouldStartWith("error: ");
        return lines[0];
    }

    private static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await CliApp.RunAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}
