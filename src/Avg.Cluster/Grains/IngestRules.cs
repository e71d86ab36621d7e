using System.Globalization;
using Avg.Data;

namespace Avg.Cluster.Grains;

/// <summary>
/// The rules of an ingest batch at the grain boundary (<see cref="IngestLimits"/>, the same the HTTP layer applies first):
/// a caller that bypasses HTTP gets the same refusal, naming the same fields, before any model or storage work.
/// </summary>
internal static class IngestRules
{
    /// <summary>Throws <see cref="InvalidRequestException"/> naming every item and field that breaks a rule.</summary>
    public static void Enforce(IReadOnlyList<IngestItem> items, BundleInfo bundle)
    {
        var errors = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        void Add(string field, string problem)
        {
            if (!errors.TryGetValue(field, out var list))
            {
                errors[field] = list = [];
            }

            list.Add(problem);
        }

        if (IngestLimits.BatchProblem(items.Count) is { } batchProblem)
        {
            Add("images", batchProblem);
        }
        else
        {
            var pixelBytes = ImageDecoder.BytesPerImage(bundle.ImageSize);
            var firstIndexOf = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var i = 0; i < items.Count; i++)
            {
                var field = string.Create(CultureInfo.InvariantCulture, $"images[{i}]");
                var item = items[i];
                if (item is null)
                {
                    Add(field, "The image entry is null.");
                    continue;
                }

                if (IngestLimits.IdProblem(item.Id) is { } idProblem)
                {
                    Add(field + ".id", idProblem);
                }
                else if (!firstIndexOf.TryAdd(item.Id, i))
                {
                    Add(field + ".id", IngestLimits.DuplicateIdProblem(item.Id, firstIndexOf[item.Id]));
                }

                if (IngestLimits.UriProblem(item.Uri) is { } uriProblem)
                {
                    Add(field + ".uri", uriProblem);
                }

                if ((item.Features is null) == (item.Pixels is null))
                {
                    Add(field, "Give exactly one of features or pixels.");
                }
                else if (item.Features is { } features && IngestLimits.FeaturesProblem(features, bundle.FeatureWidth) is { } featuresProblem)
                {
                    Add(field + ".features", featuresProblem);
                }
                else if (item.Pixels is { } pixels && pixels.Length != pixelBytes)
                {
                    Add(field + ".pixels", string.Create(CultureInfo.InvariantCulture, $"{pixels.Length} pixel bytes; this index's bundle takes {pixelBytes} (3 × {bundle.ImageSize} × {bundle.ImageSize}, planar RGB)."));
                }
                else if (item.Pixels is not null && !bundle.AcceptsImages)
                {
                    Add(field + ".pixels", "This index's bundle was trained on precomputed features and has no image encoder; send features instead.");
                }
            }
        }

        if (errors.Count > 0)
        {
            var shown = errors.Take(5).Select(e => $"{e.Key}: {e.Value[0]}");
            throw new InvalidRequestException(
                "Ingest refused: " + string.Join(" ", shown) + (errors.Count > 5 ? string.Create(CultureInfo.InvariantCulture, $" (and {errors.Count - 5} more)") : ""),
                errors.ToDictionary(e => e.Key, e => e.Value.ToArray()));
        }
    }
}
