using TorchSharp;

namespace Avg.Models.Runtime;

/// <summary>The one place that decides which device and how many CPU threads TorchSharp work uses.</summary>
public static class TorchRuntime
{
    private static readonly object Gate = new();
    private static bool Initialised;

    /// <summary>
    /// Picks the device for model work: "auto" (CUDA when available, else CPU), "cpu", or "cuda[:n]".
    /// Sets the intra-op thread count when <paramref name="threads"/> is positive.
    /// </summary>
    public static torch.Device Select(string device = "auto", int threads = 0)
    {
        lock (Gate)
        {
            if (threads > 0) torch.set_num_threads(threads);
            Initialised = true;
        }
        var wanted = device.Trim().ToLowerInvariant();
        if (wanted is "auto" or "") return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
        if (wanted == "cpu") return torch.CPU;
        if (wanted.StartsWith("cuda", StringComparison.Ordinal))
        {
            if (!torch.cuda.is_available())
            {
                throw new InvalidOperationException(
                    $"Device '{device}' was requested but CUDA is not available in this build or on this machine; use --device cpu or auto.");
            }

            return new torch.Device(wanted);
        }
        throw new ArgumentException($"Unknown device '{device}': expected auto, cpu or cuda[:N].", nameof(device));
    }

    /// <summary>True once <see cref="Select"/> ran; used by hosts to report configuration.</summary>
    public static bool IsInitialised => Initialised;

    /// <summary>A short description of the native backend, for logs and manifests.</summary>
    public static string Describe() =>
        $"TorchSharp {typeof(torch).Assembly.GetName().Version} (cuda available: {torch.cuda.is_available()}, threads: {torch.get_num_threads()})";
}
