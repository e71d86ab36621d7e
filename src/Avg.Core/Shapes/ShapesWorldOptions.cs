using System.Globalization;

namespace Avg.Shapes;

/// <summary>What to generate: images per split, the seed everything derives from, and the image size.</summary>
public sealed record ShapesWorldOptions
{
    public const int MinImageSize = 16;
    public const int MaxImageSize = 512;

    public int Train { get; init; } = 2000;
    public int Val { get; init; } = 200;
    public int Test { get; init; } = 200;

    /// <summary>Same seed and counts give byte-identical datasets.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Width and height of every image, in pixels.</summary>
    public int ImageSize { get; init; } = 64;

    public int Total => Train + Val + Test;

    /// <summary>Throws <see cref="AvgException"/> naming the first value that cannot work.</summary>
    public void Validate()
    {
        foreach (var (name, value) in new[] { ("train", Train), ("val", Val), ("test", Test) })
        {
            if (value < 0)
            {
                throw new AvgException(string.Create(CultureInfo.InvariantCulture, $"--{name} must be 0 or more, got {value}."));
            }
        }

        if ((long)Train + Val + Test > int.MaxValue / CaptionWriter.CaptionsPerImage)
        {
            throw new AvgException(string.Create(CultureInfo.InvariantCulture, $"too many images ({(long)Train + Val + Test}); at most {int.MaxValue / CaptionWriter.CaptionsPerImage} in one dataset."));
        }

        if (ImageSize is < MinImageSize or > MaxImageSize)
        {
            throw new AvgException(string.Create(CultureInfo.InvariantCulture, $"--size must be between {MinImageSize} and {MaxImageSize} pixels, got {ImageSize}."));
        }
    }
}

/// <summary>How far a generation run has got, for a progress display.</summary>
public readonly record struct ShapesProgress(int Done, int Total);

/// <summary>What a generation run wrote, for the summary a user sees.</summary>
/// <param name="ImagesPerSplit">Train, val, test counts.</param>
/// <param name="DistinctWords">Vocabulary size over all caption tokens.</param>
/// <param name="MeanCaptionTokens">Average tokens per caption.</param>
/// <param name="BytesWritten">JSON plus PNG bytes.</param>
public sealed record ShapesSummary(
    string OutputFolder,
    IReadOnlyList<int> ImagesPerSplit,
    int Captions,
    int DistinctWords,
    double MeanCaptionTokens,
    long BytesWritten,
    TimeSpan Elapsed)
{
    public int Images => ImagesPerSplit.Sum();

    public double ImagesPerSecond => Elapsed.TotalSeconds > 0 ? Images / Elapsed.TotalSeconds : 0;
}
