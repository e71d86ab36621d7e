using System.CommandLine;
using Avg.Client;

namespace Avg.Cli;

/// <summary>Builds the `avg` command tree and runs it with errors turned into one-line messages.</summary>
public static class CliApp
{
    /// <summary>Exit code for input the user must fix (bad file, bad value).</summary>
    public const int UserErrorExitCode = 2;

    /// <summary>Exit code for an unexpected internal failure.</summary>
    public const int InternalErrorExitCode = 70;

    public static RootCommand BuildRoot(CliContext context)
    {
        var root = new RootCommand("AVG Cluster: text-to-image retrieval by autoregressive token-to-voken generation.");
        root.Subcommands.Add(DataCommands.Create(context));
        root.Subcommands.Add(TrainCommand.Create(context));
        root.Subcommands.Add(EvalCommand.Create(context));
        root.Subcommands.Add(DemoCommand.Create(context));
        root.Subcommands.Add(IndexCommand.Create(context));
        root.Subcommands.Add(SearchCommand.Create(context));
        root.Subcommands.Add(ServeCommand.Create(context));
        return root;
    }

    /// <summary>The user-facing error inside <paramref name="e"/>, looking through parallel-work wrappers.</summary>
    private static AvgException? AsUserError(Exception e) => e switch
    {
        AvgException avg => avg,
        AvgRequestException request => new AvgException(ClusterConnection.Describe(request), request),
        AggregateException aggregate => aggregate.Flatten().InnerExceptions.Select(AsUserError).FirstOrDefault(x => x is not null),
        _ when e.InnerException is AvgException or AvgRequestException => AsUserError(e.InnerException),
        _ => null,
    };

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var context = new CliContext(output, error);
        var root = BuildRoot(context);
        var config = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
        try
        {
            return await root.Parse(args).InvokeAsync(config, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (AsUserError(e) is { } userError)
        {
            await error.WriteLineAsync($"error: {userError.Message}").ConfigureAwait(false);
            return UserErrorExitCode;
        }
        catch (OperationCanceledException)
        {
            await error.WriteLineAsync("cancelled").ConfigureAwait(false);
            return 130;
        }
#pragma warning disable CA1031 // the host's last line of defence: report, never show a stack trace unless asked
        catch (Exception e)
#pragma warning restore CA1031
        {
            await error.WriteLineAsync(AvgException.UnexpectedFailureLine(e)).ConfigureAwait(false);
            return InternalErrorExitCode;
        }
    }
}

/// <summary>Where commands write; lets tests run the CLI in-process and read what a user would see.</summary>
public sealed record CliContext(TextWriter Output, TextWriter Error);
