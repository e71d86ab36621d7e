namespace Avg.Client;

/// <summary>A search with every setting of <c>POST /v1/search</c>; the overload to use when pinning an index version.</summary>
/// <param name="Text">The text query (1…1000 characters after trimming).</param>
/// <param name="K">How many images to return (1…100).</param>
/// <param name="Beam">Beam size b of the constrained beam search (1…100; the paper uses 20–30); null for the index's default (20, or 80 for bundles of the pretrained encoder's default recipe).</param>
/// <param name="IndexVersion">When set, the server answers 409 unless it serves this index version.</param>
/// <param name="LevelBeams">
/// When set, the prefixes kept after each voken level (one width of 1…100 per level) in place of <paramref name="Beam"/>:
/// e.g. [20, 40, 20, 10] widens the second level, where a uniform beam loses most images (docs/training.md).
/// </param>
public sealed record SearchQuery(string Text, int K = 10, int? Beam = null, string? IndexVersion = null, IReadOnlyList<int>? LevelBeams = null);

