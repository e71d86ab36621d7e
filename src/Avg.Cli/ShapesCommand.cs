using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Avg.Shapes;
using Spectre.Console;

namespace Avg.Cli;

/// <summary>`avg data shapes`: writes the built-in Shapes-world dataset in the Karpathy split format.</summary>
internal static class ShapesCommand
{
    // Plain progress lines (redirected output) come at most this often.
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(1);

    public static Command Create(CliContext context)
    {
        var defaults = new ShapesWorldOptions();
        var output = new Option<string>("--out") { Description = "Folder to write dataset.json and images/ into.", Required = true };
        var train = new Option<int>("--train") { Description = "Training images.", DefaultValueFactory = _ => defaults.Train };
        var val = new Option<int>("--val") { Description = "Validation images.", DefaultValueFactory = _ => defaults.Val };
        var test = new Option<int>("--test") { Description = "Test images.", DefaultValueFactory = _ => defaults.Test };
        var seed = new Option<int>("--seed") { Description = "Seed; the same arguments give byte-identical files.", DefaultValueFactory = _ => defaults.Seed };
        var size = new Option<int>("--size") { Description = "Image width and height in pixels (16–512).", DefaultValueFactory = _ => defaults.ImageSize };
        var force = new Option<bool>("--force") { Description = "Write into a non-empty folder, replacing an earlier dataset.json and images/." };

        var command = new Command("shapes", "Generate the Shapes-world dataset: rendered scenes of 1–3 objects with five captions each.");
        foreach (var option in new Option[] { output, train, val, test, seed, size, force })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var options = new ShapesWorldOptions
            {
                Train = parseResult.GetValue(train),
                Val = parseResult.GetValue(val),
                Test = parseResult.GetValue(test),
                Seed = parseResult.GetValue(seed),
                ImageSize = parseResult.GetValue(size),
            };
            var world = new ShapesWorld(options);
            var folder = Path.GetFullPath(parseResult.GetValue(output)!);
            var overwrite = parseResult.GetValue(force);

            var summary = IsInteractive(context)
                ? await GenerateWithProgressBarAsync(world, folder, overwrite, cancellationToken).ConfigureAwait(false)
                : await Task.Run(() => world.Generate(folder, overwrite, new ProgressLines(context.Error), cancellationToken), cancellationToken).ConfigureAwait(false);
            await context.Output.WriteAsync(Describe(summary)).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    internal static string Describe(ShapesSummary summary)
    {
        var c = CultureInfo.InvariantCulture;
        var perSplit = summary.ImagesPerSplit;
        return string.Create(c, $"""
            shapes dataset written to {summary.OutputFolder}
              images    {summary.Images:N0} (train {perSplit[0]:N0}, val {perSplit[1]:N0}, test {perSplit[2]:N0})
              captions  {summary.Captions:N0}, {summary.DistinctWords:N0} distinct words, {summary.MeanCaptionTokens:F1} tokens on average
              written   {summary.BytesWritten / 1e6:F1} MB in {summary.Elapsed.TotalSeconds:F1} s ({summary.ImagesPerSecond:N0} images/s)

            """);
    }

    // A live bar only for a person at a terminal; tests and logs get plain lines.
    private static bool IsInteractive(CliContext context) =>
        ReferenceEquals(context.Error, Console.Error) && !Console.IsErrorRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    private static async Task<ShapesSummary> GenerateWithProgressBarAsync(ShapesWorld world, string folder, bool overwrite, CancellationToken cancellationToken)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        ShapesSummary? summary = null;
        await console.Progress().StartAsync(async progress =>
        {
            var bar = progress.AddTask("rendering", maxValue: world.Options.Total);
            summary = await Task.Run(() => world.Generate(folder, overwrite, new SynchronousProgress(p => bar.Value = Math.Max(bar.Value, p.Done)), cancellationToken), cancellationToken)
                .ConfigureAwait(false);
        }).ConfigureAwait(false);
        return summary!;
    }

    /// <summary>Applies reports on the reporting thread (the bar is thread-safe), unlike <see cref="Progress{T}"/>.</summary>
    private sealed class SynchronousProgress(Action<ShapesProgress> onReport) : IProgress<ShapesProgress>
    {
        public void Report(ShapesProgress value) => onReport(value);
    }

    /// <summary>"shapes: 12,000 / 20,000 images (60%)" about once a second, plus the last one.</summary>
    private sealed class ProgressLines(TextWriter writer) : IProgress<ShapesProgress>
    {
        private readonly Lock _lock = new();
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private TimeSpan? _last;
        private int _shown = -1;

        public void Report(ShapesProgress value)
        {
            lock (_lock)
            {
                var finished = value.Done == value.Total;
                if (value.Done <= _shown || (!finished && _clock.Elapsed - _last < ProgressInterval))
                {
                    return;
                }

                _last = _clock.Elapsed;
                _shown = value.Done;
                var percent = value.Total == 0 ? 100 : 100L * value.Done / value.Total;
                writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"shapes: {value.Done:N0} / {value.Total:N0} images ({percent}%)"));
            }
        }
    }
}
