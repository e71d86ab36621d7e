using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Avg.Cluster.Testing;

/// <summary>A child process with its output kept in a log file; killed (whole tree) on dispose.</summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;

    private ChildProcess(string name, Process process, StreamWriter log)
    {
        Name = name;
        _process = process;
        _log = log;
    }

    public string Name { get; }

    public string LogPath { get; private init; } = "";

    public bool HasExited => _process.HasExited;

    public int Id => _process.Id;

    public static ChildProcess Start(string name, string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, string logFolder)
    {
        var info = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var logPath = Path.Combine(logFolder, name + ".log");
        var log = new StreamWriter(logPath) { AutoFlush = true };
        var process = Process.Start(info) ?? throw new InvalidOperationException($"{fileName} did not start");
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ChildProcess(name, process, log) { LogPath = logPath };
    }

    /// <summary>
    /// A throwaway redis-server on 127.0.0.1:<paramref name="port"/>, returned once it accepts connections: without
    /// persistence, or with <paramref name="appendOnlyFolder"/> an append-only file there fsynced on every write (a
    /// server started again on the same folder has every write it acknowledged).
    /// </summary>
    public static async Task<ChildProcess> StartRedisAsync(int port, string logFolder, string? appendOnlyFolder = null, string name = "redis")
    {
        var persistence = appendOnlyFolder is null
            ? new[] { "--save", "", "--appendonly", "no" }
            : ["--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", appendOnlyFolder];
        var redis = Start(name, "redis-server", ["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", .. persistence],
            new Dictionary<string, string>(), logFolder);
        await Locations.WaitForPortAsync(port, TimeSpan.FromSeconds(10));
        return redis;
    }

    /// <summary>SIGKILL: no shutdown, no goodbye to the cluster.</summary>
    public void KillHard() => _process.Kill(entireProcessTree: true);

    /// <summary>SIGTERM, as Kubernetes and docker stop send: the process shuts down gracefully.</summary>
    public void Terminate() => Signal("TERM");

    /// <summary>SIGSTOP: the process keeps its sockets open but answers nothing (a hung or partitioned machine).</summary>
    public void Pause() => Signal("STOP");

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() => Signal("CONT");

    private void Signal(string name)
    {
        using var kill = Process.Start("kill", ["-" + name, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    /// <summary>Waits up to <paramref name="timeout"/> for the process to end; its exit code, or null if still running.</summary>
    public async Task<int?> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancel.Token);
            return _process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Polls <c>/health/ready</c> through <paramref name="http"/> until it answers 200; fails early if this process exits.</summary>
    public async Task WaitReadyAsync(HttpClient http, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(http);
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (HasExited)
            {
                throw new InvalidOperationException($"{Name} exited:\n{Tail()}");
            }

            try
            {
                if ((await http.GetAsync(new Uri("/health/ready", UriKind.Relative))).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            if (deadline.Elapsed > timeout)
            {
                throw new TimeoutException($"{Name} not ready after {timeout}:\n{Tail()}");
            }

            await Task.Delay(200);
        }
    }

    public string Tail(int lines = 30)
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            return string.Join('\n', reader.ReadToEnd().Split('\n').TakeLast(lines));
        }
        catch (IOException)
        {
            return "";
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            try
            {
                log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }
}

/// <summary>The <c>Avg__*</c> settings every avg-silo process of these tests gets; callers add their own.</summary>
public static class SiloEnvironment
{
    public static Dictionary<string, string> For(string bundle, int redisPort, string clusterId, int siloPort, int gatewayPort, int httpPort) => new()
    {
        ["Avg__Redis"] = $"127.0.0.1:{redisPort}",
        ["Avg__ClusterId"] = clusterId,
        ["Avg__SiloPort"] = siloPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Avg__GatewayPort"] = gatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Avg__HttpPort"] = httpPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Avg__AdvertisedIp"] = "127.0.0.1",
        ["Avg__Bundle"] = bundle,
        ["Avg__Device"] = "cpu",
        ["Avg__Threads"] = "1",
        ["Logging__LogLevel__Default"] = "Warning",
    };
}

/// <summary>Where the built avg-silo lives and how to wait for TCP ports.</summary>
public static class Locations
{
    /// <summary>src/Avg.Silo/bin/{Configuration}/net10.0/avg-silo.dll of this checkout.</summary>
    public static string SiloDll([CallerFilePath] string thisFile = "")
    {
        var root = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(thisFile)!, "..", ".."));
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
        var dll = Path.Combine(root, "src", "Avg.Silo", "bin", configuration, "net10.0", "avg-silo.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"Build src/Avg.Silo ({configuration}) first: {dll} is missing.");
    }

    public static async Task WaitForPortAsync(int port, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }
}
