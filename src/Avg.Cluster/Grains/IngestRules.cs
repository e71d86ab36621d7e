using System.Globalization;
using Avg.Data;

namespace Avg.Cluster.Grains;

/// <summary>
/// The rules of an ingest batch at the grain boundary (<see cref="IngestLimits"/>, the same the HTTP layer applies first):
/// a caller that bypasses HTTP gets the same refusal, naming the same fields, before any model or storage work.
/// </summary>
internal static class IngestRules
{
    /// <summary>Field → problems for every item and field of <paramref name="items"/> that breaks a rule; empty when none does.</summary>
    public static Dictionary<string, string[]> Problems(IReadOnlyList<IngestItem> items, BundleInfo bundle)
    {
        var errors = new FieldProblems();
        if (IngestLimits.BatchProblem(items.Count) is { } batchProblem)
        {
            errors.Add("images", batchProblem);
            return errors.ToDictionary();
        }

        var pixelBytes = ImageDecoder.BytesPerImage(bundle.ImageSize);
        var firstIndexOf = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < items.Count; i++)
        {
            var field = Field(i);
            var item = items[i];
            if (item is null)
            {
                errors.Add(field, "The image entry is null.");
                continue;
            }

            CheckIdAndUri(errors, field, item.Id, item.Uri, firstIndexOf, i);
            var payloads = (item.Features is null ? 0 : 1) + (item.Pixels is null ? 0 : 1) + (item.Image is null ? 0 : 1);
            if (payloads != 1)
            {
                errors.Add(field, "Give exactly one of features, pixels or image.");
            }
            else if (item.Features is { } features)
            {
                if (IngestLimits.FeaturesProblem(features, bundle.FeatureWidth) is { } featuresProblem)
                {
                    errors.Add(field + ".features", featuresProblem);
                }
            }
            else if (!bundle.AcceptsImages)
            {
                errors.Add(field + (item.Pixels is null ? ".image" : ".pixels"), "This index's bundle was trained on precomputed features and has no image encoder; send features instead.");
            }
            else if (item.Pixels is { } pixels && pixels.Length != pixelBytes)
            {
                errors.Add(field + ".pixels", string.Create(CultureInfo.InvariantCulture, $"{pixels.Length} pixel bytes; this index's bundle takes {pixelBytes} (3 × {bundle.ImageSize} × {bundle.ImageSize}, planar RGB)."));
            }
            else if (item.Image is { Length: 0 })
            {
                errors.Add(field + ".image", "The image file is empty; send a PNG or JPEG file's bytes.");
            }
        }

        return errors.ToDictionary();
    }

    /// <summary>
    /// Field → problems for images handed to <see cref="ITokenizationShardGrain.Write"/>: the id and URI rules, and vokens
    /// and fine codes of the bundle's shape (what <see cref="ITokenizationShardGrain.Tokenize"/> returns).
    /// </summary>
    public static Dictionary<string, string[]> Problems(IReadOnlyList<IndexedImage> images, BundleInfo bundle)
    {
        var errors = new FieldProblems();
        if (IngestLimits.BatchProblem(images.Count) is { } batchProblem)
        {
            errors.Add("images", batchProblem);
            return errors.ToDictionary();
        }

        var firstIndexOf = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < images.Count; i++)
        {
            var field = Field(i);
            var image = images[i];
            if (image is null)
            {
                errors.Add(field, "The image entry is null.");
                continue;
            }

            CheckIdAndUri(errors, field, image.Id, image.Uri, firstIndexOf, i);
            if (image.Vokens is not { } vokens || vokens.Length != bundle.Levels || vokens.Any(v => (uint)v >= (uint)bundle.CodebookSize))
            {
                errors.Add(field + ".vokens", string.Create(CultureInfo.InvariantCulture, $"This index's identifiers are {bundle.Levels} vokens in [0, {bundle.CodebookSize})."));
            }

            if (image.Fine is not { } fine || fine.Length != bundle.FineLevels)
            {
                errors.Add(field + ".fine", string.Create(CultureInfo.InvariantCulture, $"This index's bundle records {bundle.FineLevels} fine codes per image."));
            }
        }

        return errors.ToDictionary();
    }

    /// <summary>Throws <see cref="InvalidRequestException"/> naming every field of <paramref name="problems"/>, if any.</summary>
    public static void Enforce(IReadOnlyDictionary<string, string[]> problems)
    {
        if (problems.Count > 0)
        {
            throw Refusal(problems);
        }
    }

    /// <summary>The exception that refuses a batch: its message names up to five fields, its errors all of them.</summary>
    public static InvalidRequestException Refusal(IReadOnlyDictionary<string, string[]> problems)
    {
        var shown = problems.Take(5).Select(e => $"{e.Key}: {e.Value[0]}");
        return new InvalidRequestException(
            "Ingest refused: " + string.Join(" ", shown) + (problems.Count > 5 ? string.Create(CultureInfo.InvariantCulture, $" (and {problems.Count - 5} more)") : ""),
            problems.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal));
    }

    public static string Field(int index) => string.Create(CultureInfo.InvariantCulture, $"images[{index}]");

    private static void CheckIdAndUri(FieldProblems errors, string field, string id, string? uri, Dictionary<string, int> firstIndexOf, int index)
    {
        if (IngestLimits.IdProblem(id) is { } idProblem)
        {
            errors.Add(field + ".id", idProblem);
        }
        else if (!firstIndexOf.TryAdd(id, index))
        {
            errors.Add(field + ".id", IngestLimits.DuplicateIdProblem(id, firstIndexOf[id]));
        }

        if (IngestLimits.UriProblem(uri) is { } uriProblem)
        {
            errors.Add(field + ".uri", uriProblem);
        }
    }

    /// <summary>Field → problems in the order found.</summary>
    private sealed class FieldProblems
    {
        private readonly Dictionary<string, List<string>> _problems = new(StringComparer.Ordinal);

        public void Add(string field, string problem)
        {
            if (!_problems.TryGetValue(field, out var list))
            {
                _problems[field] = list = [];
            }

            list.Add(problem);
        }

        // The default comparer (ordinal for strings): these dictionaries cross silos in TokenizedBatch.
        public Dictionary<string, string[]> ToDictionary() => _problems.ToDictionary(e => e.Key, e => e.Value.ToArray());
    }
}
