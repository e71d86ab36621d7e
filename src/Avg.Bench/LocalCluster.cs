using System.Diagnostics;
using System.Globalization;
using Avg.Cluster.Testing;

namespace Avg.Bench;

/// <summary>How one avg-silo process of a benchmark is started.</summary>
/// <param name="Ports">Redis, silo, gateway and HTTP ports.</param>
/// <param name="Roles">Avg__Roles; the silos find each other through Redis clustering.</param>
/// <param name="ClusterId">Avg__ClusterId, the same for every silo of one run.</param>
/// <param name="Threads">Avg__Threads of the model host; 0 is the silo's default.</param>
/// <param name="RefreshMs">Avg__RefreshMs; 0 is always fresh.</param>
public sealed record SiloLaunch(string Bundle, int[] Ports, string Roles, string ClusterId, string LogPath, int Threads = 0, int RefreshMs = 0);

/// <summary>
/// Redis and real avg-silo processes on loopback for the benchmarks that measure a cluster (scale, soak): start,
/// wait until ready, read their memory and CPU from /proc, stop them as Kubernetes would (SIGTERM, then kill).
/// </summary>
public static class LocalCluster
{
    /// <summary>A throwaway redis-server on 127.0.0.1:<paramref name="port"/> (no persistence), its log in <paramref name="logFolder"/>.</summary>
    public static async Task<ChildProcess> StartRedisAsync(int port, string logFolder)
    {
        try
        {
            return await ChildProcess.StartRedisAsync(port, logFolder, name: Invariant($"redis-{port}")).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new AvgException($"redis-server did not start or answer on port {port} ({e.Message}); install it (apt-get install -y redis-server)", e);
        }
    }

    /// <summary>
    /// The real avg-silo (built beside this program through the project reference), in its own process with its own
    /// runtime settings (server GC), so its RSS and pauses are a silo's; its output goes to <see cref="SiloLaunch.LogPath"/>.
    /// </summary>
    public static ChildProcess StartSilo(SiloLaunch launch, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(launch);
        ArgumentNullException.ThrowIfNull(log);
        var siloDll = Path.Combine(AppContext.BaseDirectory, "avg-silo.dll");
        if (!File.Exists(siloDll))
        {
            throw new AvgException($"{siloDll} is missing; build src/Avg.Bench (it builds avg-silo beside it)");
        }

        var environment = new Dictionary<string, string>
        {
            ["Avg__Bundle"] = Path.GetFullPath(launch.Bundle),
            ["Avg__Redis"] = Invariant($"127.0.0.1:{launch.Ports[0]}"),
            ["Avg__ClusterId"] = launch.ClusterId,
            ["Avg__AdvertisedIp"] = "127.0.0.1",
            ["Avg__SiloPort"] = launch.Ports[1].ToString(CultureInfo.InvariantCulture),
            ["Avg__GatewayPort"] = launch.Ports[2].ToString(CultureInfo.InvariantCulture),
            ["Avg__HttpPort"] = launch.Ports[3].ToString(CultureInfo.InvariantCulture),
            ["Avg__Device"] = "cpu",
            ["Avg__Threads"] = launch.Threads.ToString(CultureInfo.InvariantCulture),
            ["Avg__RefreshMs"] = launch.RefreshMs.ToString(CultureInfo.InvariantCulture),
            ["Avg__Roles"] = launch.Roles,
            ["Logging__LogLevel__Default"] = "Warning",
            // As the container image sets it (deploy/Dockerfile): two malloc arenas keep LibTorch's native memory flat.
            ["MALLOC_ARENA_MAX"] = Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") ?? "2",
        };
        log.WriteLine($"starting the silo (log: {launch.LogPath})");
        var logPath = Path.GetFullPath(launch.LogPath);
        return ChildProcess.Start(Path.GetFileNameWithoutExtension(logPath), "dotnet", [siloDll], environment, Path.GetDirectoryName(logPath)!);
    }

    /// <summary>Waits up to 2 minutes for the silo's <c>/health/ready</c>; a silo that exits or stays unready is one error line.</summary>
    public static async Task WaitReadyAsync(HttpClient http, ChildProcess silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        try
        {
            await silo.WaitReadyAsync(http, TimeSpan.FromMinutes(2)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException)
        {
            throw new AvgException(Invariant($"the silo did not become ready ({e.Message.Split('\n')[0]}); see its log {silo.LogPath}"), e);
        }
    }

    /// <summary>SIGTERM, as Kubernetes stops a pod; killed if it has not exited within a minute.</summary>
    public static async Task StopAsync(ChildProcess silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        if (!silo.HasExited)
        {
            silo.Terminate();
            if (await silo.WaitForExitAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false) is null)
            {
                silo.KillHard();
            }
        }
    }

    /// <summary>Lines the silo logged at Error or Critical (the console logger's "fail:" and "crit:").</summary>
    public static (int Count, string[] Sample) SiloLogErrors(string path)
    {
        var lines = File.Exists(path) ? File.ReadAllLines(path) : [];
        var errors = lines.Select((line, i) => (line, i)).Where(x => x.line.StartsWith("fail:", StringComparison.Ordinal) || x.line.StartsWith("crit:", StringComparison.Ordinal)).ToArray();
        return (errors.Length, errors.Take(5).Select(x => string.Join(" | ", lines.Skip(x.i).Take(3))).ToArray());
    }

    public static long RedisUsedMemory(int port)
    {
        using var cli = Process.Start(new ProcessStartInfo("redis-cli", ["-p", port.ToString(CultureInfo.InvariantCulture), "info", "memory"]) { RedirectStandardOutput = true, RedirectStandardError = true })
            ?? throw new AvgException("redis-cli did not start");
        // Standard error is read too, so "Could not connect" while Redis starts stays out of the benchmark's log.
        var errors = cli.StandardError.ReadToEndAsync();
        var text = cli.StandardOutput.ReadToEnd();
        cli.WaitForExit();
        _ = errors.Result;
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith("used_memory:", StringComparison.Ordinal))
            ?? throw new AvgException("redis-cli info memory printed no used_memory");
        return long.Parse(line["used_memory:".Length..].Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>Resident set and its peak (/proc/PID/status VmRSS and VmHWM), in bytes.</summary>
    public static (long Rss, long Peak) Rss(ChildProcess process)
    {
        ArgumentNullException.ThrowIfNull(process);
        long Field(string name) => File.ReadLines(Invariant($"/proc/{process.Id}/status"))
            .Where(l => l.StartsWith(name, StringComparison.Ordinal))
            .Select(l => long.Parse(l[name.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024)
            .FirstOrDefault();
        return (Field("VmRSS:"), Field("VmHWM:"));
    }

    /// <summary>User + system CPU seconds the process has used so far (/proc/PID/stat, clock ticks of 1/100 s).</summary>
    public static double CpuSeconds(ChildProcess process)
    {
        ArgumentNullException.ThrowIfNull(process);
        var stat = File.ReadAllText(Invariant($"/proc/{process.Id}/stat"));
        // Fields after the command name (which may hold spaces) start after the last ')'; utime and stime are fields 14 and 15.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
