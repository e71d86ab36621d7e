using System.Diagnostics;

namespace Avg.Bench;

/// <summary>A server the benchmark starts (redis-server, a silo): output appended to a log file or dropped; killed when disposed.</summary>
public sealed class ChildProcess : IDisposable
{
    private readonly StreamWriter? _log;

    private ChildProcess(Process process, StreamWriter? log)
    {
        Process = process;
        _log = log;
    }

    public Process Process { get; }

    public static ChildProcess Start(string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, string? logPath)
    {
        var info = new ProcessStartInfo(fileName, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        Process process;
        try
        {
            process = Process.Start(info) ?? throw new AvgException($"{fileName} did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new AvgException($"{fileName} could not be started ({e.Message}); is it installed?", e);
        }

        var log = logPath is null ? null : new StreamWriter(logPath, append: false) { AutoFlush = true };
        void Write(object sender, DataReceivedEventArgs e)
        {
            if (e.Data is not null && log is not null)
            {
                lock (log)
                {
                    log.WriteLine(e.Data);
                }
            }
        }

        process.OutputDataReceived += Write;
        process.ErrorDataReceived += Write;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ChildProcess(process, log);
    }

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
            Process.WaitForExit(10_000);
        }

        Process.Dispose();
        _log?.Dispose();
    }
}
