using SkiaSharp;

namespace Avg.Data;

/// <summary>Decodes PNG/JPEG files (SkiaSharp) to RGB bytes at a fixed square size, planar (3 × size × size).</summary>
public static class ImageDecoder
{
    /// <summary>
    /// Largest image decoded (width × height, 4096² = 16.8 megapixels, 64 MiB as RGBA): a few hundred bytes of PNG header
    /// can claim any size, and the decoder would allocate it before finding the data missing.
    /// </summary>
    public const long MaxPixels = 4096L * 4096;

    /// <summary>Bytes one decoded image takes: 3 × size × size.</summary>
    public static int BytesPerImage(int size) => 3 * size * size;

    /// <summary>Decodes a file; throws <see cref="DataFormatException"/> naming the file when it is missing or not an image.</summary>
    public static byte[] DecodeFile(string path, int size)
    {
        var rgb = new byte[BytesPerImage(size)];
        DecodeFile(path, size, rgb);
        return rgb;
    }

    /// <summary>Decodes a file into <paramref name="destination"/> (3 × size × size bytes, planar RGB).</summary>
    public static void DecodeFile(string path, int size, Span<byte> destination)
    {
        if (!File.Exists(path)) throw new DataFormatException(path, "image file not found");
        byte[] encoded;
        try
        {
            encoded = File.ReadAllBytes(path);
        }
        catch (IOException e)
        {
            throw new DataFormatException(path, $"image cannot be read: {e.Message}", e);
        }
        Decode(encoded, size, destination, path);
    }

    /// <summary>Decodes encoded bytes (PNG, JPEG, or anything SkiaSharp reads); <paramref name="source"/> names them in errors.</summary>
    public static void Decode(ReadOnlySpan<byte> encoded, int size, Span<byte> destination, string source)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        if (destination.Length < BytesPerImage(size)) throw new ArgumentException("destination too small", nameof(destination));
        using var data = SKData.CreateCopy(encoded);
        using var decoded = DecodeWhole(data, source, encoded.Length);
        var info = new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var scaled = decoded.Width == size && decoded.Height == size && decoded.ColorType == SKColorType.Rgba8888
            ? decoded.Copy()
            : decoded.Resize(info, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));
        if (scaled is null) throw new DataFormatException(source, $"image of {decoded.Width}×{decoded.Height} could not be resized to {size}×{size}");
        var pixels = scaled.GetPixelSpan();
        var plane = size * size;
        for (var p = 0; p < plane; p++)
        {
            destination[p] = pixels[4 * p];
            destination[plane + p] = pixels[(4 * p) + 1];
            destination[(2 * plane) + p] = pixels[(4 * p) + 2];
        }
    }

    /// <summary>
    /// What <c>SKBitmap.Decode</c> does (same pixel format, so the same pixels), but refusing images over
    /// <see cref="MaxPixels"/> before allocating and truncated ones, which Skia would decode with the missing rows blank.
    /// </summary>
    private static SKBitmap DecodeWhole(SKData data, string source, int length)
    {
        using var codec = SKCodec.Create(data)
            ?? throw new DataFormatException(source, $"not a decodable image ({length} bytes); expected PNG or JPEG");
        var info = codec.Info;
        if ((long)info.Width * info.Height > MaxPixels)
            throw new DataFormatException(source, $"the image claims {info.Width}×{info.Height} pixels; at most {MaxPixels} pixels (4096×4096) are decoded");
        if (info.AlphaType == SKAlphaType.Unpremul) info.AlphaType = SKAlphaType.Premul;
        info.ColorSpace = null;
        var bitmap = new SKBitmap(info);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        if (result != SKCodecResult.Success)
        {
            bitmap.Dispose();
            throw new DataFormatException(source, result == SKCodecResult.IncompleteInput
                ? $"the image data ends early ({length} bytes; truncated file?)"
                : $"not a decodable image ({length} bytes, {result}); expected PNG or JPEG");
        }
        return bitmap;
    }

    /// <summary>Decodes the given images into one planar-RGB buffer (images × 3 × size × size), reporting images done.</summary>
    public static byte[] DecodeAll(KarpathyDataset dataset, IReadOnlyList<DatasetImage> images, int size, Action<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        var bytesPerImage = BytesPerImage(size);
        var pixels = new byte[(long)images.Count * bytesPerImage];
        foreach (var (start, count, batch) in DecodeInBatches(dataset, images, size, 512))
        {
            batch.CopyTo(pixels, (long)start * bytesPerImage);
            progress?.Invoke(start + count);
        }
        return pixels;
    }

    /// <summary>
    /// Decodes a dataset's images in order, in batches, in parallel within a batch; only one batch is held at a time,
    /// so image sets of any size stream through.
    /// </summary>
    public static IEnumerable<(int Start, int Count, byte[] Pixels)> DecodeInBatches(
        KarpathyDataset dataset, IReadOnlyList<DatasetImage> images, int size, int batchSize = 256)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var bytesPerImage = BytesPerImage(size);
        for (var start = 0; start < images.Count; start += batchSize)
        {
            var count = Math.Min(batchSize, images.Count - start);
            var pixels = new byte[count * bytesPerImage];
            var first = start;
            try
            {
                Parallel.For(0, count, i =>
                    DecodeFile(dataset.ImagePath(images[first + i]), size, pixels.AsSpan(i * bytesPerImage, bytesPerImage)));
            }
            catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(x => x is DataFormatException) is { } first0)
            {
                // Report the first bad file as a plain user error, not a bundle of parallel failures.
                throw (DataFormatException)first0;
            }
            yield return (start, count, pixels);
        }
    }
}
