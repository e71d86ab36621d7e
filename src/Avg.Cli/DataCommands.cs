using System.CommandLine;

namespace Avg.Cli;

/// <summary>`avg data …`: make and inspect datasets.</summary>
internal static class DataCommands
{
    public static Command Create(CliContext context)
    {
        var data = new Command("data", "Make and inspect datasets (Karpathy split format).");
        data.Subcommands.Add(ShapesCommand.Create(context));
        return data;
    }
}
