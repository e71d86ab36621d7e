using System.Globalization;

namespace Avg.Retrieval;

/// <summary>
/// The most a search may ask for (docs/http-api.md): one place for the HTTP layer, which turns a breach into a field
/// error, and the query grain, which refuses it before sizing any buffer by it.
/// </summary>
public static class SearchLimits
{
    public const int MaxQueryLength = 1000;
    public const int MinK = 1, MaxK = 100, DefaultK = 10;
    public const int MinBeam = 1, MaxBeam = 100, DefaultBeam = 20;

    /// <summary>Most voken levels a <c>levelBeams</c> list may give; bundles have a handful (the paper: 4–8).</summary>
    public const int MaxLevels = 64;

    /// <summary>Field name → what is wrong, for every limit the request breaks; empty when it keeps them all. A null beam is the bundle's default.</summary>
    public static IReadOnlyList<(string Field, string Problem)> Problems(string? query, int k, int? beam, IReadOnlyList<int>? levelBeams)
    {
        var problems = new List<(string, string)>();
        var length = query?.Trim().Length ?? 0;
        if (length == 0)
        {
            problems.Add(("query", string.Create(CultureInfo.InvariantCulture, $"The query is empty; give 1 to {MaxQueryLength} characters of text.")));
        }
        else if (length > MaxQueryLength)
        {
            problems.Add(("query", string.Create(CultureInfo.InvariantCulture, $"The query has {length} characters; at most {MaxQueryLength} are allowed.")));
        }
        else if (Avg.Data.IngestLimits.TextProblem(query!) is { } text)
        {
            problems.Add(("query", "The query " + text));
        }

        if (k is < MinK or > MaxK)
        {
            problems.Add(("k", string.Create(CultureInfo.InvariantCulture, $"k must be between {MinK} and {MaxK}, got {k}.")));
        }

        if (beam is < MinBeam or > MaxBeam)
        {
            problems.Add(("beam", string.Create(CultureInfo.InvariantCulture, $"beam must be between {MinBeam} and {MaxBeam}, got {beam}.")));
        }

        if (levelBeams is { } widths && (widths.Count == 0 || widths.Count > MaxLevels || widths.Any(w => w is < MinBeam or > MaxBeam)))
        {
            var shown = widths.Count > MaxLevels ? string.Create(CultureInfo.InvariantCulture, $"{widths.Count} widths") : $"[{string.Join(",", widths)}]";
            problems.Add(("levelBeams", string.Create(CultureInfo.InvariantCulture, $"levelBeams must give one width between {MinBeam} and {MaxBeam} per voken level, got {shown}.")));
        }

        return problems;
    }

    /// <summary>Throws <see cref="InvalidRequestException"/> naming every broken limit: for callers that bypass the HTTP checks (grain clients).</summary>
    public static void Enforce(string? query, int k, int? beam, IReadOnlyList<int>? levelBeams)
    {
        var problems = Problems(query, k, beam, levelBeams);
        if (problems.Count > 0)
        {
            throw new InvalidRequestException(
                "Search refused: " + string.Join(" ", problems.Select(p => p.Problem)),
                problems.GroupBy(p => p.Field).ToDictionary(g => g.Key, g => g.Select(p => p.Problem).ToArray()));
        }
    }
}
