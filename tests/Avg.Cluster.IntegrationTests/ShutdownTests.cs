using System.Diagnostics;
using System.Globalization;
using Avg.Cluster.Hosting;
using Avg.Cluster.Tests.Support;
using Avg.Tests.Support;
using Xunit.Abstractions;

namespace Avg.Cluster.IntegrationTests;

/// <summary>An avg-silo process stopped with SIGTERM, with Redis up and with Redis already gone.</summary>
public sealed class ShutdownTests(ITestOutputHelper output) : IDisposable
{
    private const int ShutdownSeconds = 2;

    private readonly TempDirectory _logs = new();
    private readonly List<ChildProcess> _processes = [];

    [Fact]
    public async Task Sigterm_stops_the_silo_cleanly_and_a_shutdown_hung_on_a_lost_redis_is_ended_by_the_watchdog()
    {
        var bundle = TinyShapesBundle.Ensure();
        var ports = LoopbackPorts.Take(7);
        var redis = await ChildProcess.StartRedisAsync(ports[0], _logs.Path);
        _processes.Add(redis);

        // Redis up: SIGTERM leaves the cluster within the graceful timeout, exit code 0.
        var first = await StartSiloAsync("silo-clean", bundle, ports[0], ports[1], ports[2], ports[3]);
        var clock = Stopwatch.StartNew();
        first.Terminate();
        var code = await first.WaitForExitAsync(TimeSpan.FromSeconds(60));
        output.WriteLine($"clean stop: exit {code} after {clock.Elapsed.TotalSeconds:F1}s");
        code.ShouldBe(0, first.Tail());

        // Redis gone first: Orleans would wait on the membership table; the watchdog ends the process.
        var second = await StartSiloAsync("silo-orphan", bundle, ports[0], ports[4], ports[5], ports[6]);
        redis.KillHard();
        clock.Restart();
        second.Terminate();
        var limit = ShutdownSeconds + AvgSiloOptions.ShutdownWatchdogMarginSeconds;
        code = await second.WaitForExitAsync(TimeSpan.FromSeconds(limit + 20));
        output.WriteLine($"stop without redis: exit {code} after {clock.Elapsed.TotalSeconds:F1}s");
        code.ShouldBe(1, second.Tail());
        clock.Elapsed.TotalSeconds.ShouldBeLessThan(limit + 15);
        second.Tail().ShouldContain("shutdown did not finish within");
    }

    public void Dispose()
    {
        foreach (var process in _processes)
        {
            process.Dispose();
        }

        _logs.Dispose();
    }

    private async Task<ChildProcess> StartSiloAsync(string name, string bundle, int redisPort, int siloPort, int gatewayPort, int httpPort)
    {
        var env = SiloEnvironment.For(bundle, redisPort, "shutdown-" + Guid.NewGuid().ToString("N")[..8], siloPort, gatewayPort, httpPort);
        env["Avg__ShutdownSeconds"] = ShutdownSeconds.ToString(CultureInfo.InvariantCulture);
        var silo = ChildProcess.Start(name, "dotnet", [Locations.SiloDll()], env, _logs.Path);
        _processes.Add(silo);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(5) };
        await silo.WaitReadyAsync(http, TimeSpan.FromSeconds(60));
        return silo;
    }
}
