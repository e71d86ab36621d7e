using System.Globalization;
using Avg.Cluster;
using Avg.Data;

namespace Avg.Silo.Http;

/// <summary>The limits of docs/http-api.md and the checks that turn a request body into grain inputs or field errors.</summary>
public static class RequestValidation
{
    public const int MaxQueryLength = 1000;
    public const int MinK = 1, MaxK = 100, DefaultK = 10;
    public const int MinBeam = 1, MaxBeam = 100, DefaultBeam = 20;
    public const int MaxIdLength = 256;
    public const int MaxBatch = 1000;

    /// <summary>Field → messages; empty when the request is valid.</summary>
    public sealed class Errors : Dictionary<string, string[]>
    {
        public Errors()
            : base(StringComparer.Ordinal)
        {
        }

        public void Add(string field, string message) =>
            this[field] = TryGetValue(field, out var known) ? [.. known, message] : [message];
    }

    public static (SearchRequest? Request, Errors Errors) Search(SearchRequestBody? body)
    {
        var errors = new Errors();
        if (body is null)
        {
            errors.Add("body", "A JSON body {\"query\": \"...\"} is required.");
            return (null, errors);
        }

        var query = body.Query?.Trim() ?? "";
        if (query.Length == 0)
        {
            errors.Add("query", "The query is empty; give 1 to 1000 characters of text.");
        }
        else if (query.Length > MaxQueryLength)
        {
            errors.Add("query", string.Create(CultureInfo.InvariantCulture, $"The query has {query.Length} characters; at most {MaxQueryLength} are allowed."));
        }

        var k = body.K ?? DefaultK;
        if (k is < MinK or > MaxK)
        {
            errors.Add("k", string.Create(CultureInfo.InvariantCulture, $"k must be between {MinK} and {MaxK}, got {k}."));
        }

        var beam = body.Beam ?? DefaultBeam;
        if (beam is < MinBeam or > MaxBeam)
        {
            errors.Add("beam", string.Create(CultureInfo.InvariantCulture, $"beam must be between {MinBeam} and {MaxBeam}, got {beam}."));
        }

        if (body.LevelBeams is { } widths && (widths.Length == 0 || widths.Any(w => w is < MinBeam or > MaxBeam)))
        {
            errors.Add("levelBeams", string.Create(CultureInfo.InvariantCulture, $"levelBeams must give one width between {MinBeam} and {MaxBeam} per voken level, got [{string.Join(",", widths)}]."));
        }

        return errors.Count > 0 ? (null, errors) : (new SearchRequest { Query = query, K = k, Beam = beam, LevelBeams = body.LevelBeams }, errors);
    }

    /// <summary>Level beams must match the bundle's sequence length; null when they do (or none were given).</summary>
    public static Errors? LevelBeamsFor(SearchRequest request, BundleInfo bundle)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(bundle);
        if (request.LevelBeams is not { } widths || widths.Length == bundle.Depth)
        {
            return null;
        }

        var errors = new Errors();
        errors.Add("levelBeams", string.Create(CultureInfo.InvariantCulture, $"levelBeams gives {widths.Length} widths but this index's sequences have {bundle.Depth} vokens: give one per level."));
        return errors;
    }

    /// <summary>Checks ids, payloads and sizes, and decodes images to the bundle's pixels (so a bad image fails the whole batch before any is indexed).</summary>
    public static (IngestItem[]? Items, Errors Errors) Ingest(IngestRequestBody? body, BundleInfo bundle)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        var errors = new Errors();
        var images = body?.Images;
        if (images is null || images.Count == 0)
        {
            errors.Add("images", "Give at least one image: {\"images\": [{\"id\": \"42\", \"imageBase64\": \"...\"}]}.");
            return (null, errors);
        }

        if (images.Count > MaxBatch)
        {
            errors.Add("images", string.Create(CultureInfo.InvariantCulture, $"A batch holds at most {MaxBatch} images, got {images.Count}; split it."));
            return (null, errors);
        }

        var items = new IngestItem[images.Count];
        var firstIndexOf = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < images.Count; i++)
        {
            var field = string.Create(CultureInfo.InvariantCulture, $"images[{i}]");
            var image = images[i];
            if (image is null)
            {
                errors.Add(field, "The image entry is null.");
                continue;
            }

            var idProblem = CheckId(image.Id);
            if (idProblem is not null)
            {
                errors.Add(field + ".id", idProblem);
            }
            else if (firstIndexOf.TryGetValue(image.Id!, out var first))
            {
                errors.Add(field + ".id", string.Create(CultureInfo.InvariantCulture, $"Duplicate id '{image.Id}' (also images[{first}]); each id may appear once per batch."));
            }
            else
            {
                firstIndexOf[image.Id!] = i;
            }

            var hasImage = image.ImageBase64 is not null;
            var hasFeatures = image.Features is not null;
            if (hasImage == hasFeatures)
            {
                errors.Add(field, hasImage
                    ? "Give either imageBase64 or features, not both."
                    : "Give exactly one of imageBase64 (PNG/JPEG) or features (float array).");
                continue;
            }

            if (hasFeatures)
            {
                var features = image.Features!;
                if (features.Length != bundle.FeatureWidth)
                {
                    errors.Add(field + ".features", string.Create(CultureInfo.InvariantCulture, $"{features.Length} values; this index's bundle takes feature vectors of width {bundle.FeatureWidth}."));
                    continue;
                }

                var bad = Array.FindIndex(features, f => !float.IsFinite(f));
                if (bad >= 0)
                {
                    errors.Add(field + ".features", string.Create(CultureInfo.InvariantCulture, $"Value {bad} is {features[bad]}; features must be finite numbers."));
                    continue;
                }

                items[i] = new IngestItem { Id = image.Id ?? "", Features = features, Uri = image.Uri };
                continue;
            }

            if (!bundle.AcceptsImages)
            {
                errors.Add(field + ".imageBase64", "This index's bundle was trained on precomputed features and has no image encoder; send features instead.");
                continue;
            }

            var pixels = Decode(image.ImageBase64!, bundle.ImageSize, out var problem);
            if (pixels is null)
            {
                errors.Add(field + ".imageBase64", problem!);
                continue;
            }

            items[i] = new IngestItem { Id = image.Id ?? "", Pixels = pixels, Uri = image.Uri };
        }

        return errors.Count > 0 ? (null, errors) : (items, errors);
    }

    /// <summary>Null when the id is usable, else what is wrong with it.</summary>
    public static string? CheckId(string? id)
    {
        if (string.IsNullOrEmpty(id))
        {
            return "The id is empty; give 1 to 256 characters.";
        }

        if (id.Length > MaxIdLength)
        {
            return string.Create(CultureInfo.InvariantCulture, $"The id has {id.Length} characters; at most {MaxIdLength} are allowed.");
        }

        return id.Contains('/', StringComparison.Ordinal) ? $"The id '{id}' contains '/', which ids may not." : null;
    }

    private static byte[]? Decode(string base64, int size, out string? problem)
    {
        var bytes = new byte[(base64.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64String(base64, bytes, out var written) || written == 0)
        {
            problem = "Not valid base64; encode the PNG or JPEG file's bytes with standard base64.";
            return null;
        }

        var pixels = new byte[ImageDecoder.BytesPerImage(size)];
        try
        {
            ImageDecoder.Decode(bytes.AsSpan(0, written), size, pixels, "image");
        }
        catch (DataFormatException e)
        {
            problem = string.Create(CultureInfo.InvariantCulture, $"{written} bytes that do not decode as an image ({e.Message}); send PNG or JPEG.");
            return null;
        }

        problem = null;
        return pixels;
    }
}
