using System.Globalization;
using Avg.Cluster;
using Avg.Data;
using Avg.Http;
using Avg.Retrieval;

namespace Avg.Silo.Http;

/// <summary>The limits of docs/http-api.md and the checks that turn a request body into grain inputs or field errors.</summary>
public static class RequestValidation
{
    public const int MaxQueryLength = SearchLimits.MaxQueryLength;
    public const int MinK = SearchLimits.MinK, MaxK = SearchLimits.MaxK, DefaultK = SearchLimits.DefaultK;
    public const int MinBeam = SearchLimits.MinBeam, MaxBeam = SearchLimits.MaxBeam;
    public const int MaxIdLength = IngestLimits.MaxIdLength;
    public const int MaxBatch = IngestLimits.MaxBatch;
    public const int MaxUriLength = IngestLimits.MaxUriLength;

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
        var k = body.K ?? DefaultK;
        // No beam: the bundle's default, which the query grain knows (docs/design.md §1.7).
        var beam = body.Beam;
        foreach (var (field, problem) in SearchLimits.Problems(query, k, beam, body.LevelBeams))
        {
            errors.Add(field, problem);
        }

        return errors.Count > 0 ? (null, errors) : (new SearchRequest { Query = query, K = k, Beam = beam, LevelBeams = body.LevelBeams }, errors);
    }

    /// <summary>Level beams must match the bundle's sequence length; null when they do (or none were given).</summary>
    public static Errors? LevelBeamsFor(SearchRequest request, BundleInfo bundle)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(bundle);
        if (request.LevelBeams is not { } widths || widths.Length == bundle.Levels)
        {
            return null;
        }

        var errors = new Errors();
        errors.Add("levelBeams", string.Create(CultureInfo.InvariantCulture, $"levelBeams gives {widths.Length} widths but this index's sequences have {bundle.Levels} vokens: give one per level."));
        return errors;
    }

    /// <summary>
    /// Checks ids, payloads and sizes, and reads images' base64 to their files' bytes; the tokenization shards decode the
    /// files, and <see cref="ShardRouter"/> indexes nothing unless every shard accepts its part.
    /// </summary>
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

        if (IngestLimits.BatchProblem(images.Count) is { } batchProblem)
        {
            errors.Add("images", batchProblem);
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
                errors.Add(field + ".id", IngestLimits.DuplicateIdProblem(image.Id!, first));
            }
            else
            {
                firstIndexOf[image.Id!] = i;
            }

            if (IngestLimits.UriProblem(image.Uri) is { } uriProblem)
            {
                errors.Add(field + ".uri", uriProblem);
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
                if (IngestLimits.FeaturesProblem(features, bundle.FeatureWidth) is { } featuresProblem)
                {
                    errors.Add(field + ".features", featuresProblem);
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

            // The file's bytes travel to the tokenization shard, which decodes them where the model runs (ShardRouter).
            var file = FromBase64(image.ImageBase64!, out var problem);
            if (file is null)
            {
                errors.Add(field + ".imageBase64", problem!);
                continue;
            }

            items[i] = new IngestItem { Id = image.Id ?? "", Image = file, Uri = image.Uri };
        }

        return errors.Count > 0 ? (null, errors) : (items, errors);
    }

    /// <summary>Null when the id is usable, else what is wrong with it.</summary>
    public static string? CheckId(string? id) => IngestLimits.IdProblem(id);

    private static byte[]? FromBase64(string base64, out string? problem)
    {
        var bytes = new byte[(base64.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64String(base64, bytes, out var written) || written == 0)
        {
            problem = "Not valid base64; encode the PNG or JPEG file's bytes with standard base64.";
            return null;
        }

        problem = null;
        return bytes.AsSpan(0, written).ToArray();
    }
}
