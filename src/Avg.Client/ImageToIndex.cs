namespace Avg.Client;

/// <summary>
/// One image for <see cref="AvgSearchClient.IndexImagesAsync(IEnumerable{ImageToIndex}, string?, CancellationToken)"/>:
/// either its encoded bytes (PNG or JPEG) or a precomputed feature vector, never both.
/// </summary>
public sealed class ImageToIndex
{
    private ImageToIndex(string id, ReadOnlyMemory<byte>? image, ReadOnlyMemory<float>? features, string? uri)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        Id = id;
        Image = image;
        Features = features;
        Uri = uri;
    }

    /// <summary>The id to index the image under (1…256 characters, no <c>/</c>); re-using an id replaces that image.</summary>
    public string Id { get; }

    /// <summary>Encoded PNG or JPEG bytes, sent base64; null when <see cref="Features"/> is set.</summary>
    public ReadOnlyMemory<byte>? Image { get; }

    /// <summary>A feature vector as wide as the served bundle's features; null when <see cref="Image"/> is set.</summary>
    public ReadOnlyMemory<float>? Features { get; }

    /// <summary>Where callers can fetch the image; returned with search results.</summary>
    public string? Uri { get; }

    /// <summary>An image the server encodes itself (raw-image route).</summary>
    public static ImageToIndex FromImage(string id, ReadOnlyMemory<byte> encodedImage, string? uri = null) => new(id, encodedImage, null, uri);

    /// <summary>An image already encoded to features, e.g. CLIP vectors (features route; no image decoding on the server).</summary>
    /// <exception cref="ArgumentException">A value is NaN or infinite (JSON cannot carry it).</exception>
    public static ImageToIndex FromFeatures(string id, ReadOnlyMemory<float> features, string? uri = null)
    {
        var span = features.Span;
        for (var i = 0; i < span.Length; i++)
        {
            if (!float.IsFinite(span[i]))
                throw new ArgumentException($"features[{i}] of image '{id}' is {span[i]}; features must be finite", nameof(features));
        }
        return new(id, null, features, uri);
    }
}
