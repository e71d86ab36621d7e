using Avg.Data;

namespace Avg.Models.Encoders.Pretrained;

/// <summary>
/// Backbone outputs kept beside a dataset (<c>DATASET/.avg-cache/NAME-SHA12.npy</c>, rows in dataset order), so
/// retraining the heads, tokenizer or generator does not run the backbones again. A file is used only when its name
/// carries the backbone's hash and its shape is the one expected; otherwise the rows are computed and written anew.
/// </summary>
public static class BackboneFeatureCache
{
    /// <summary>The cache folder inside a dataset folder.</summary>
    public const string DirectoryName = ".avg-cache";

    /// <summary>
    /// The cache name of an image backbone's rows: the backbone's name when the images sit in the dataset folder, and
    /// with a key of the image folder when they come from elsewhere (<c>--image-root</c>), since the rows depend on the
    /// files read: one dataset JSON used with two image folders must not share its rows.
    /// </summary>
    public static string ImageCacheName(string backbone, string datasetDirectory, string imageRoot)
    {
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(imageRoot));
        if (string.Equals(root, Path.TrimEndingDirectorySeparator(Path.GetFullPath(datasetDirectory)), StringComparison.Ordinal))
            return backbone;
        var key = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(root)))[..8];
        return $"{backbone}-root{key}";
    }

    /// <summary>Where <paramref name="backbone"/>'s rows for the dataset in <paramref name="datasetDirectory"/> live.</summary>
    public static string PathFor(string datasetDirectory, string backbone, string sha256)
    {
        if (sha256.Length < 12) throw new ArgumentException($"'{sha256}' is not a SHA-256", nameof(sha256));
        return Path.Combine(datasetDirectory, DirectoryName, $"{backbone}-{sha256[..12]}.npy");
    }

    /// <summary>The cached rows when present with <paramref name="rows"/> × <paramref name="width"/>; else <paramref name="compute"/>'s, written for next time.</summary>
    public static float[] GetOrCompute(string datasetDirectory, string backbone, string sha256, int rows, int width, Func<float[]> compute, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(compute);
        var path = PathFor(datasetDirectory, backbone, sha256);
        if (File.Exists(path))
        {
            try
            {
                var cached = NpyMatrix.Read(path, rows, width, "row");
                log?.Invoke($"{backbone}: {rows} rows from the cache {path}");
                return cached;
            }
            catch (DataFormatException e)
            {
                log?.Invoke($"{backbone}: cache {path} does not fit ({e.Message}); recomputing");
            }
        }
        var computed = compute();
        if (computed.Length != (long)rows * width)
            throw new InvalidOperationException($"{backbone} gave {computed.Length} floats, expected {rows} × {width}");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + ".tmp";
        NpyMatrix.Write(temporary, computed, rows, width);
        File.Move(temporary, path, overwrite: true);
        log?.Invoke($"{backbone}: {rows} rows computed and cached in {path}");
        return computed;
    }
}
