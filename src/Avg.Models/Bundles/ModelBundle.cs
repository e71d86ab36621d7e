using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Avg.Models.Bundles;

/// <summary>
/// A trained model as one directory: config, text vocabulary, encoder, tokenizer and generator weights, and a
/// manifest with the versions that wrote it and a SHA-256 per file, so a damaged or mismatched bundle is refused
/// before any of it is used. An index is bound to a bundle by <see cref="BundleManifest.BundleId"/>.
/// </summary>
public sealed class ModelBundle
{
    /// <summary>Manifest file name inside a bundle directory.</summary>
    public const string ManifestFileName = "manifest.json";

    /// <summary>Bundle layout version this code reads and writes.</summary>
    public const int FormatVersion = 1;

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private ModelBundle(string directory, BundleManifest manifest)
    {
        Directory = directory;
        Manifest = manifest;
    }

    public string Directory { get; }

    public BundleManifest Manifest { get; }

    /// <summary>Full path of a file in the bundle.</summary>
    public string PathOf(string fileName) => Path.Combine(Directory, fileName);

    /// <summary>
    /// Writes the manifest over the files now in <paramref name="directory"/> (all but the manifest itself), hashing
    /// each. Call after every component is saved.
    /// </summary>
    public static ModelBundle Seal(string directory, IReadOnlyDictionary<string, string>? properties = null)
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var path in System.IO.Directory.GetFiles(directory).OrderBy(p => p, StringComparer.Ordinal))
        {
            var name = Path.GetFileName(path);
            if (name == ManifestFileName || name.EndsWith(".tmp", StringComparison.Ordinal)) continue;
            files[name] = Hash(path);
        }
        if (files.Count == 0) throw new AvgException($"{directory}: nothing to seal; save the model files first");
        var bundleId = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join('\n', files.Select(f => $"{f.Key}:{f.Value}")))))[..16];
        var manifest = new BundleManifest
        {
            Format = FormatVersion,
            BundleId = bundleId,
            Product = typeof(ModelBundle).Assembly.GetName().Version?.ToString() ?? "0.0.0",
            TorchSharp = typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "unknown",
            CreatedUtc = DateTime.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            Files = files,
            Properties = properties is null ? new SortedDictionary<string, string>(StringComparer.Ordinal) : new SortedDictionary<string, string>(properties.ToDictionary(p => p.Key, p => p.Value), StringComparer.Ordinal),
        };
        var manifestPath = Path.Combine(directory, ManifestFileName);
        File.WriteAllText(manifestPath + ".tmp", JsonSerializer.Serialize(manifest, JsonOptions));
        File.Move(manifestPath + ".tmp", manifestPath, overwrite: true);
        return new ModelBundle(Path.GetFullPath(directory), manifest);
    }

    /// <summary>Opens a bundle, verifying format, required files and every hash; throws <see cref="AvgException"/> with what is wrong.</summary>
    public static ModelBundle Open(string directory, params string[] requiredFiles)
    {
        if (!System.IO.Directory.Exists(directory))
            throw new AvgException($"{directory}: model bundle not found; train one with `avg train --data DIR --out {directory}`");
        var manifestPath = Path.Combine(directory, ManifestFileName);
        if (!File.Exists(manifestPath))
            throw new AvgException($"{directory}: not a model bundle (no {ManifestFileName}); it may be an unfinished training run — train again");
        BundleManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<BundleManifest>(File.ReadAllText(manifestPath), JsonOptions);
        }
        catch (JsonException e)
        {
            throw new AvgException($"{manifestPath}: damaged manifest ({e.Message})", e);
        }
        if (manifest?.Files is null || manifest.BundleId is null)
            throw new AvgException($"{manifestPath}: damaged manifest (no file list or bundle id)");
        if (manifest.Format != FormatVersion)
            throw new AvgException($"{directory}: bundle format {manifest.Format}, this build reads format {FormatVersion}; retrain the bundle with this version");
        foreach (var required in requiredFiles)
        {
            if (!manifest.Files.ContainsKey(required))
                throw new AvgException($"{directory}: bundle has no {required}; it was trained without that stage — run `avg train` for it");
        }
        foreach (var (name, expected) in manifest.Files)
        {
            var path = Path.Combine(directory, name);
            if (!File.Exists(path)) throw new AvgException($"{path}: missing from the bundle (listed in its manifest)");
            var actual = Hash(path);
            if (!string.Equals(actual, expected, StringComparison.Ordinal))
                throw new AvgException($"{path}: damaged (SHA-256 {actual[..12]}…, manifest says {expected[..Math.Min(12, expected.Length)]}…); restore or retrain the bundle");
        }
        return new ModelBundle(Path.GetFullPath(directory), manifest);
    }

    private static string Hash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}

/// <summary>What <c>manifest.json</c> says about a bundle.</summary>
public sealed class BundleManifest
{
    public int Format { get; init; }

    /// <summary>Short content hash: the identity an index is bound to.</summary>
    public string? BundleId { get; init; }

    public string? Product { get; init; }

    public string? TorchSharp { get; init; }

    public string? CreatedUtc { get; init; }

    /// <summary>File name → SHA-256 (hex).</summary>
    [JsonPropertyName("files")]
    public SortedDictionary<string, string>? Files { get; init; }

    /// <summary>Free-form facts about the training run (dataset, ablation switches, sizes).</summary>
    public SortedDictionary<string, string>? Properties { get; init; }
}
