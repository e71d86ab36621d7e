using System.Runtime.InteropServices;

namespace Avg.Cluster.Model;

/// <summary>
/// Lowers the OS scheduling priority of the calling thread, so that the kernel runs other threads first when the cores
/// are busy. On Linux this is the thread's nice value (<c>setpriority</c> on its kernel thread id; raising it needs no
/// privilege, and threads it starts inherit it); <see cref="Thread.Priority"/> does nothing there. Elsewhere it sets
/// <see cref="ThreadPriority.BelowNormal"/>.
/// </summary>
internal static class ThreadNiceness
{
    private const int PrioProcess = 0;

    /// <summary>Sets the calling thread's nice value to <paramref name="nice"/> (1…19); false with the reason when the OS refused.</summary>
    public static bool TryLowerCurrent(int nice, out string? reason)
    {
        reason = null;
        if (!OperatingSystem.IsLinux())
        {
            Thread.CurrentThread.Priority = ThreadPriority.BelowNormal;
            return true;
        }

        try
        {
            if (SetPriority(PrioProcess, (uint)GetTid(), nice) == 0)
            {
                return true;
            }

            reason = $"setpriority failed with errno {Marshal.GetLastPInvokeError()}";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            reason = e.Message;
        }

        return false;
    }

    // DllImport, not LibraryImport: both signatures are blittable, and LibraryImport would need unsafe code in the project.
    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();

    [DllImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static extern int SetPriority(int which, uint who, int priority);
}
