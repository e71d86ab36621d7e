namespace Avg.Models.Encoders;

/// <summary>Writes the RGB pixels (channel-major, 3×H×W bytes each) of the given images, in order, into <paramref name="destination"/>.</summary>
public delegate void ImageBatchLoader(ReadOnlySpan<int> imageIndices, Span<byte> destination);

/// <summary>
/// Images as 8-bit RGB, fetched a batch at a time: 20,000 images at 64×64 are 245 MB as bytes but ~1 GB as
/// floats, so the encoders convert to floats one batch at a time.
/// </summary>
public sealed class ImageData
{
    public ImageData(int count, int height, int width, ImageBatchLoader loader)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentNullException.ThrowIfNull(loader);
        Count = count;
        Height = height;
        Width = width;
        Loader = loader;
    }

    /// <summary>RGB channels per image.</summary>
    public const int Channels = 3;

    public int Count { get; }

    public int Height { get; }

    public int Width { get; }

    /// <summary>Bytes of one image: 3 × Height × Width.</summary>
    public int ImageBytes => Channels * Height * Width;

    public ImageBatchLoader Loader { get; }

    /// <summary>Wraps images already in memory, laid out N×3×H×W.</summary>
    public static ImageData FromBytes(byte[] pixels, int count, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        var size = Channels * height * width;
        if (pixels.Length != (long)count * size)
            throw new ArgumentException($"Expected {count}×3×{height}×{width} = {(long)count * size} bytes, got {pixels.Length}.", nameof(pixels));
        return new ImageData(count, height, width, (indices, destination) =>
        {
            for (var i = 0; i < indices.Length; i++)
                pixels.AsSpan(indices[i] * size, size).CopyTo(destination.Slice(i * size, size));
        });
    }
}

/// <summary>Tokenised captions (rows of <see cref="MaxLength"/> ids, flat) and the image each one describes.</summary>
public sealed class CaptionData
{
    public CaptionData(int[] ids, int maxLength, int[] imageOf)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(imageOf);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        if (ids.Length != imageOf.Length * maxLength)
            throw new ArgumentException($"Expected {imageOf.Length} captions × {maxLength} ids = {imageOf.Length * maxLength}, got {ids.Length}.", nameof(ids));
        Ids = ids;
        MaxLength = maxLength;
        ImageOf = imageOf;
    }

    public int[] Ids { get; }

    public int MaxLength { get; }

    /// <summary>Index of the image caption c describes.</summary>
    public int[] ImageOf { get; }

    public int Count => ImageOf.Length;

    /// <summary>For each of <paramref name="imageCount"/> images, the indices of its captions.</summary>
    public int[][] CaptionsByImage(int imageCount)
    {
        var lists = Enumerable.Range(0, imageCount).Select(_ => new List<int>()).ToArray();
        for (var c = 0; c < ImageOf.Length; c++)
        {
            var image = ImageOf[c];
            if ((uint)image >= (uint)imageCount)
                throw new ArgumentException($"Caption {c} points at image {image}, outside 0..{imageCount - 1}.");
            lists[image].Add(c);
        }
        return lists.Select(l => l.ToArray()).ToArray();
    }
}
