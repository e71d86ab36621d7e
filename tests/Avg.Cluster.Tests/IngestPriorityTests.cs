using Avg.Cluster.Hosting;
using Avg.Cluster.Model;
using Avg.Tests.Support;
using Microsoft.Extensions.Options;

namespace Avg.Cluster.Tests;

/// <summary>The parts of ingest that keep its CPU work away from queries: the low-priority thread and the fan-out bound.</summary>
[Trait(TestCategory.Name, TestCategory.Unit)]
public class IngestPriorityTests
{
    [Fact]
    public async Task Low_priority_work_runs_off_the_calling_thread_at_the_ingest_nice_value()
    {
        using var work = new LowPriorityWork(Options.Create(new AvgSiloOptions { IngestNice = 7 }));
        var caller = Environment.CurrentManagedThreadId;
        var (thread, name, nice) = await work.RunAsync(() => (Environment.CurrentManagedThreadId, Thread.CurrentThread.Name, CurrentNice()));

        Assert.NotEqual(caller, thread);
        Assert.Equal("avg-ingest-cpu", name);
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal(7, nice);
        }
    }

    [Fact]
    public async Task A_failure_in_low_priority_work_reaches_the_caller_and_the_thread_goes_on()
    {
        using var work = new LowPriorityWork(Options.Create(new AvgSiloOptions()));
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => work.RunAsync<int>(() => throw new InvalidOperationException("bad batch")));
        Assert.Equal("bad batch", failure.Message);
        Assert.Equal(42, await work.RunAsync(() => 42));
    }

    [Fact]
    public async Task Ingest_fan_out_never_has_more_calls_in_flight_than_configured()
    {
        using var fanOut = new IngestFanOut(Options.Create(new AvgSiloOptions { IngestFanOut = 3 }), new SearchActivity());
        var inFlight = 0;
        var most = 0;
        var calls = Enumerable.Range(0, 40).Select(i => fanOut.RunAsync(async () =>
        {
            var now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref most, now);
            await Task.Delay(5);
            Interlocked.Decrement(ref inFlight);
            return i;
        }));

        var results = await Task.WhenAll(calls);

        Assert.Equal(Enumerable.Range(0, 40), results);
        Assert.Equal(3, most);
    }

    [Fact]
    public async Task An_ingest_call_waits_for_the_searches_in_progress_until_they_end()
    {
        var searches = new SearchActivity();
        using var fanOut = new IngestFanOut(Options.Create(new AvgSiloOptions { IngestHoldMs = 10_000 }), searches);
        searches.Begin();
        searches.Begin();
        var started = false;
        var call = fanOut.RunAsync(() =>
        {
            started = true;
            return Task.FromResult(1);
        });

        await Task.Delay(200);
        Assert.False(started, "two searches in progress: the call holds");
        searches.End();
        await Task.Delay(100);
        Assert.False(started, "one search still in progress");
        searches.End();
        Assert.Equal(1, await call.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(0, searches.Active);
    }

    [Fact]
    public async Task An_ingest_call_starts_after_the_hold_when_searches_go_on_and_at_once_without_a_hold()
    {
        var searches = new SearchActivity();
        searches.Begin();
        using (var held = new IngestFanOut(Options.Create(new AvgSiloOptions { IngestHoldMs = 150 }), searches))
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await held.RunAsync(() => Task.FromResult(0)).WaitAsync(TimeSpan.FromSeconds(5));
            Assert.InRange(clock.ElapsedMilliseconds, 140, 5_000);
        }

        using var unheld = new IngestFanOut(Options.Create(new AvgSiloOptions { IngestHoldMs = 0 }), searches);
        Assert.True(unheld.RunAsync(() => Task.FromResult(0)).IsCompletedSuccessfully, "IngestHoldMs 0: no hold");
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1001)]
    public void An_out_of_range_ingest_hold_is_refused_at_start_up_with_the_setting_named(int hold)
    {
        var error = Assert.Throws<AvgException>(() => new AvgSiloOptions { Roles = AvgSiloOptions.PartitionsRole, IngestHoldMs = hold }.Validate(standalone: false));
        Assert.Contains("Avg__IngestHoldMs", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1025)]
    public void An_out_of_range_fan_out_is_refused_at_start_up_with_the_setting_named(int fanOut)
    {
        var error = Assert.Throws<AvgException>(() => new AvgSiloOptions { Roles = AvgSiloOptions.PartitionsRole, IngestFanOut = fanOut }.Validate(standalone: false));
        Assert.Contains("Avg__IngestFanOut", error.Message, StringComparison.Ordinal);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var seen = Volatile.Read(ref target);
        while (value > seen)
        {
            var previous = Interlocked.CompareExchange(ref target, value, seen);
            if (previous == seen)
            {
                return;
            }

            seen = previous;
        }
    }

    /// <summary>The calling thread's nice value: field 19 of /proc/thread-self/stat (after the parenthesised name).</summary>
    private static int CurrentNice()
    {
        var stat = File.ReadAllText("/proc/thread-self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[16], System.Globalization.CultureInfo.InvariantCulture);
    }
}
