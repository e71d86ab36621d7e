using Avg.Cli;

namespace Avg.Cli.Tests;

/// <summary>Runs the `avg` command in-process and captures what a user would see.</summary>
public sealed record CliRun(int ExitCode, string Output, string Error)
{
    public static async Task<CliRun> Of(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await CliApp.RunAsync(args, output, error);
        return new CliRun(code, output.ToString(), error.ToString());
    }

    /// <summary>Asserts the run failed as a user error: non-zero exit, one `error:` line containing <paramref name="expected"/>, no stack trace.</summary>
    public void ShouldBeUserError(string expected)
    {
        ExitCode.ShouldBe(CliApp.UserErrorExitCode, Error);
        var lines = Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Length.ShouldBe(1, Error);
        lines[0].ShouldStartWith("error: ");
        lines[0].ShouldContain(expected);
        Error.ShouldNotContain("   at ");
        Error.ShouldNotContain("Exception");
    }
}
