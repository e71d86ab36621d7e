using Avg.Data;
using Avg.Models.Pipeline;
using Avg.Shapes;

namespace Avg.Tests.Support;

/// <summary>
/// A tiny Shapes dataset and a bundle trained on it with the built-in encoder (so both ingest routes work), made
/// once per machine and code version in the temp folder (a file lock keeps parallel test assemblies from training
/// twice) — about half a minute on 2 cores the first time.
/// </summary>
public static class TinyShapesBundle
{
    /// <summary>Bump when the recipe changes.</summary>
    private const string Recipe = "v4"; // v2: bundles record their train voken counts; v3: fine codebooks; v4: search defaults

    public static string Root { get; } = Path.Combine(Path.GetTempPath(), $"avg-cluster-test-bundle-{Recipe}");

    public static string DataFolder => Path.Combine(Root, "data");

    public static string BundleFolder => Path.Combine(Root, "bundle");

    public static ShapesWorldOptions World { get; } = new() { Train = 160, Val = 0, Test = 60, Seed = 3, ImageSize = 32 };

    public static AvgTrainingOptions Training { get; } = new()
    {
        Device = "cpu", ImageSize = 32, EmbeddingDim = 32, EncoderEpochs = 2, ImageChannels = [8, 16, 32, 32],
        CodebookSize = 16, Levels = 3, TokenizerEpochs = 8, GeneratorDim = 32, GeneratorLayers = 1, GeneratorEpochs = 3,
        GeneratorBatch = 64, DiscriminativeBeam = 4, Seed = 5,
        // Search defaults other than the standard 20 and 30, so that tests see a silo take the bundle's.
        SearchBeam = 12, SearchCollisionWeight = 25,
    };

    /// <summary>The collision weight the bundle records: what a silo without Avg__CollisionWeight ranks with.</summary>
    public static double CollisionWeight => Training.SearchCollisionWeight;

    private static readonly object Gate = new();

    /// <summary>Makes the dataset and bundle if missing; returns the bundle folder.</summary>
    public static string Ensure()
    {
        lock (Gate)
        {
            Directory.CreateDirectory(Path.GetTempPath());
            using var fileLock = AcquireLock(Path.Combine(Path.GetTempPath(), $"avg-cluster-test-bundle-{Recipe}.lock"));
            if (File.Exists(Path.Combine(BundleFolder, Models.Bundles.ModelBundle.ManifestFileName)))
            {
                return BundleFolder;
            }

            if (Directory.Exists(Root))
            {
                Directory.Delete(Root, recursive: true);
            }

            new ShapesWorld(World).Generate(DataFolder, overwrite: true);
            var dataset = KarpathyReader.Load(DataFolder);
            new AvgTrainer(Training).Train(dataset, BundleFolder);
            return BundleFolder;
        }
    }

    public static KarpathyDataset Dataset() => KarpathyReader.Load(DataFolder);

    private static FileStream AcquireLock(string path)
    {
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(200);
            }
        }
    }
}
