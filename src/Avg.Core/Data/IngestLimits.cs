using System.Globalization;

namespace Avg.Data;

/// <summary>
/// What an image sent for indexing may be (docs/http-api.md): one place for the HTTP layer, which turns a breach into a
/// field error, and the tokenization shard grain, which refuses it before any model or storage work for callers that
/// bypass the HTTP checks. Each check returns null when the value keeps the rule, else what is wrong.
/// </summary>
public static class IngestLimits
{
    /// <summary>Most images one ingest call may carry.</summary>
    public const int MaxBatch = 1000;

    public const int MaxIdLength = 256;

    public const int MaxUriLength = 2048;

    /// <summary>A batch of <paramref name="count"/> images: at most <see cref="MaxBatch"/>.</summary>
    public static string? BatchProblem(int count) =>
        count > MaxBatch ? string.Create(CultureInfo.InvariantCulture, $"A batch holds at most {MaxBatch} images, got {count}; split it.") : null;

    /// <summary>What is wrong with <paramref name="id"/> appearing again in a batch, where images[<paramref name="first"/>] has it already.</summary>
    public static string DuplicateIdProblem(string id, int first) =>
        string.Create(CultureInfo.InvariantCulture, $"Duplicate id '{id}' (also images[{first}]); each id may appear once per batch.");

    /// <summary>An image id: 1 to 256 characters of valid Unicode, no '/', no control characters.</summary>
    public static string? IdProblem(string? id)
    {
        if (string.IsNullOrEmpty(id))
        {
            return "The id is empty; give 1 to 256 characters.";
        }

        if (id.Length > MaxIdLength)
        {
            return string.Create(CultureInfo.InvariantCulture, $"The id has {id.Length} characters; at most {MaxIdLength} are allowed.");
        }

        if (id.Contains('/', StringComparison.Ordinal))
        {
            return $"The id '{id}' contains '/', which ids may not.";
        }

        if (id.Any(char.IsControl))
        {
            return string.Create(CultureInfo.InvariantCulture, $"The id contains a control character (U+{(int)id.First(char.IsControl):X4}); use printable characters.");
        }

        return TextProblem(id) is { } problem ? "The id " + problem : null;
    }

    /// <summary>An image's URI, when given: at most 2,048 characters of valid Unicode.</summary>
    public static string? UriProblem(string? uri)
    {
        if (uri is null)
        {
            return null;
        }

        return uri.Length > MaxUriLength
            ? string.Create(CultureInfo.InvariantCulture, $"The uri has {uri.Length} characters; at most {MaxUriLength} are allowed.")
            : TextProblem(uri) is { } problem ? "The uri " + problem : null;
    }

    /// <summary>A feature vector: exactly the bundle's <paramref name="width"/> values, all finite.</summary>
    public static string? FeaturesProblem(float[] features, int width)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (features.Length != width)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{features.Length} values; this index's bundle takes feature vectors of width {width}.");
        }

        var bad = Array.FindIndex(features, f => !float.IsFinite(f));
        return bad >= 0 ? string.Create(CultureInfo.InvariantCulture, $"Value {bad} is {features[bad]}; features must be finite numbers.") : null;
    }

    /// <summary>
    /// Null when <paramref name="text"/> is well-formed UTF-16 (so it survives UTF-8 on the wire and in storage), else why
    /// not; for every text a request carries (ids, URIs, queries).
    /// </summary>
    public static string? TextProblem(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return string.Create(CultureInfo.InvariantCulture, $"has an unpaired surrogate (U+{(int)text[i]:X4}) at character {i}; send valid Unicode text.");
            }
        }

        return null;
    }
}
