using System.Runtime.InteropServices;

namespace Avg.Silo;

/// <summary>
/// The process's native heap (glibc malloc): how many arenas it may use (<see cref="Avg.Cluster.Hosting.AvgSiloOptions.MallocArenas"/>).
/// A 16-minute soak held native memory at +0.06 MB/min with 2 arenas, against +1.1 MB/min with glibc's default (docs/soak.md).
/// </summary>
internal static class NativeHeap
{
    private const int ArenaMax = -8; // M_ARENA_MAX in malloc.h

    /// <summary>Limits the arenas to <paramref name="arenas"/> (0: leave glibc's default); what was done, for the log.</summary>
    public static string LimitArenas(int arenas)
    {
        if (arenas <= 0)
        {
            return "glibc's default malloc arenas (Avg__MallocArenas=0)";
        }

        if (!OperatingSystem.IsLinux())
        {
            return "malloc arenas left to the OS (not Linux)";
        }

        if (Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is { } set)
        {
            return $"malloc arenas from MALLOC_ARENA_MAX={set}";
        }

        try
        {
            return MallOpt(ArenaMax, arenas) == 1 ? $"malloc arenas limited to {arenas}" : "mallopt(M_ARENA_MAX) refused; glibc's default malloc arenas";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // musl and other C libraries have no mallopt.
            return $"malloc arenas left to the C library ({e.GetType().Name})";
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int MallOpt(int param, int value);
}
