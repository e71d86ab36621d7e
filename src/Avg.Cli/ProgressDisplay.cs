using System.Diagnostics;
using System.Globalization;
using Avg.Models;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Avg.Cli;

/// <summary>
/// Shows training and evaluation progress: live bars with ETA for a person at a terminal, plain lines
/// ("generator 120/900 13% loss 2.314 eta 4m10s") every few seconds when output is redirected.
/// </summary>
internal static class ProgressDisplay
{
    private static readonly TimeSpan LineInterval = TimeSpan.FromSeconds(5);

    public static bool IsInteractive(CliContext context) =>
        ReferenceEquals(context.Error, Console.Error) && !Console.IsErrorRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>Runs <paramref name="work"/> off the caller's thread with a progress display suited to the terminal.</summary>
    public static async Task<T> RunAsync<T>(CliContext context, Func<IProgress<TrainingProgress>, T> work, CancellationToken cancellationToken)
    {
        if (!IsInteractive(context))
            return await Task.Run(() => work(new Lines(context.Error)), cancellationToken).ConfigureAwait(false);

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        await console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async ctx =>
            {
                result = await Task.Run(() => work(new Bars(ctx)), cancellationToken).ConfigureAwait(false);
            }).ConfigureAwait(false);
        return result;
    }

    /// <summary>
    /// Runs counted work (items sent to a cluster) with a bar showing items per second, or plain lines
    /// ("index 640/1000 64% 812 images/s elapsed 0m01s eta 0m00s") when output is redirected. The work
    /// reports how many items are done so far.
    /// </summary>
    public static async Task<T> RunCountingAsync<T>(CliContext context, string label, int total, string unit, Func<IProgress<int>, Task<T>> work)
    {
        if (!IsInteractive(context))
            return await work(new CountLines(context.Error, label, total, unit)).ConfigureAwait(false);

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        await console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RateColumn(unit), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask(label, maxValue: Math.Max(1, total));
                result = await work(new BarCount(task)).ConfigureAwait(false);
            }).ConfigureAwait(false);
        return result;
    }

    private static string Describe(TrainingProgress p) => p.Loss > 0
        ? string.Create(CultureInfo.InvariantCulture, $"{p.Stage} epoch {p.Epoch + 1} loss {p.Loss:F3}")
        : p.Stage;

    /// <summary>One bar per stage, created when the stage first reports.</summary>
    private sealed class Bars(ProgressContext context) : IProgress<TrainingProgress>
    {
        private readonly Dictionary<string, ProgressTask> _tasks = new(StringComparer.Ordinal);
        private readonly Lock _gate = new();

        public void Report(TrainingProgress value)
        {
            lock (_gate)
            {
                if (!_tasks.TryGetValue(value.Stage, out var task))
                {
                    foreach (var other in _tasks.Values) other.StopTask();
                    task = context.AddTask(value.Stage, maxValue: Math.Max(1, value.TotalSteps));
                    _tasks[value.Stage] = task;
                }
                task.Description = Describe(value);
                task.MaxValue = Math.Max(1, value.TotalSteps);
                task.Value = value.Step;
            }
        }
    }

    /// <summary>Plain lines at most every few seconds per stage, plus each stage's last step.</summary>
    private sealed class Lines(TextWriter writer) : IProgress<TrainingProgress>
    {
        private readonly Dictionary<string, (Stopwatch Clock, TimeSpan? Last)> _stages = new(StringComparer.Ordinal);
        private readonly Lock _gate = new();

        public void Report(TrainingProgress value)
        {
            lock (_gate)
            {
                if (!_stages.TryGetValue(value.Stage, out var state))
                {
                    state = (Stopwatch.StartNew(), null);
                }
                var elapsed = state.Clock.Elapsed;
                var finished = value.Step >= value.TotalSteps;
                if (!finished && state.Last is { } last && elapsed - last < LineInterval)
                {
                    _stages[value.Stage] = state;
                    return;
                }
                _stages[value.Stage] = (state.Clock, elapsed);
                var fraction = value.TotalSteps == 0 ? 1 : (double)value.Step / value.TotalSteps;
                var eta = fraction > 0 ? TimeSpan.FromSeconds(elapsed.TotalSeconds * (1 - fraction) / fraction) : TimeSpan.Zero;
                var loss = value.Loss > 0 ? string.Create(CultureInfo.InvariantCulture, $" loss {value.Loss:F3}") : "";
                writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{value.Stage} {value.Step}/{value.TotalSteps} {fraction:P0}{loss} elapsed {Format(elapsed)} eta {Format(eta)}"));
            }
        }

    }

    /// <summary>Sets the bar to the count done, on the reporting thread (no reordering through a synchronization context).</summary>
    private sealed class BarCount(ProgressTask task) : IProgress<int>
    {
        public void Report(int value) => task.Value = value;
    }

    /// <summary>Items per second, from the bar's recent progress.</summary>
    private sealed class RateColumn(string unit) : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(task.Speed is { } speed ? string.Create(CultureInfo.InvariantCulture, $"{speed:F0} {unit}/s") : $"- {unit}/s");
    }

    /// <summary>Plain lines for counted work: at most every few seconds, plus the last.</summary>
    private sealed class CountLines(TextWriter writer, string label, int total, string unit) : IProgress<int>
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly Lock _gate = new();
        private TimeSpan? _last;

        public void Report(int value)
        {
            lock (_gate)
            {
                var elapsed = _clock.Elapsed;
                if (value < total && _last is { } previous && elapsed - previous < LineInterval) return;
                _last = elapsed;
                var fraction = total == 0 ? 1 : (double)value / total;
                var rate = elapsed.TotalSeconds > 0 ? value / elapsed.TotalSeconds : 0;
                var eta = rate > 0 ? TimeSpan.FromSeconds((total - value) / rate) : TimeSpan.Zero;
                writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{label} {value}/{total} {fraction * 100:F0}% {rate:F0} {unit}/s elapsed {Format(elapsed)} eta {Format(eta)}"));
            }
        }
    }

    private static string Format(TimeSpan t) => t.TotalHours >= 1
        ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}h{t.Minutes:D2}m")
        : string.Create(CultureInfo.InvariantCulture, $"{t.Minutes}m{t.Seconds:D2}s");
}
