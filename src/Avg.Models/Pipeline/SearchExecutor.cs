using Avg.Models.Generation;
using Avg.Retrieval;

namespace Avg.Models.Pipeline;

/// <summary>
/// The search step, one batch of text queries at a time: the generator's constrained beam search over a trie
/// (docs/design.md §1.5), then, when <see cref="SearchOptions.CollisionWeight"/> is set, the ranking within collisions
/// by the images' fine codes (§1.7). The in-process <see cref="AvgSearcher"/> and the silo's model host both run it.
/// Holds the generator's scorer state: not thread-safe, one per thread.
/// </summary>
public sealed class SearchExecutor : IDisposable
{
    private readonly AvgModel _model;
    private readonly GeneratorScorer _scorer;
    private CollisionRanker? _ranker;
    private ConstrainedBeamSearch? _search;
    private IVokenTrieView? _searchTrie;

    public SearchExecutor(AvgModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        _scorer = new GeneratorScorer(model.Generator);
    }

    /// <summary>
    /// Ranked hits per query (image id, score, identifier), at most <see cref="SearchOptions.K"/> each.
    /// <paramref name="fineCodes"/> are the images' fine codes, needed when the options rank within collisions;
    /// <paramref name="observe"/> may wrap the step scorer (telemetry counts the beam steps through it).
    /// </summary>
    public IReadOnlyList<SearchHit>[] Search(IVokenTrieView trie, SearchOptions options, IReadOnlyList<string> queries, IFineCodeLookup? fineCodes = null,
        Func<IVokenStepScorer, IVokenStepScorer>? observe = null)
    {
        ArgumentNullException.ThrowIfNull(trie);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(queries);
        if (queries.Count == 0) return [];
        var search = SearchOver(trie, options);
        // The queries' two-tower text vectors, once: the generator may read them, the collision ranking does.
        var textVectors = _scorer.NeedsTextVectors || options.CollisionWeight is not null ? _model.EncodeTexts(queries) : null;
        _scorer.Prepare(_model.Vocabulary.EncodeMany(queries), queries.Count, textVectors);
        var hits = search.Search(observe?.Invoke(_scorer) ?? _scorer, queries.Count);
        if (options.CollisionWeight is not { } weight) return hits;

        // Second score within collisions: the leaves' images ranked by the query's similarity to their fine codes.
        var codes = fineCodes ?? throw new AvgException("collision ranking needs the index's fine codes");
        var ranker = _ranker ??= _model.CreateCollisionRanker();
        ranker.Prepare(textVectors!);
        for (var q = 0; q < hits.Length; q++) hits[q] = ranker.Rank(q, hits[q], codes, weight, options.K);
        return hits;
    }

    /// <summary>
    /// The same ranking with no search error: every identifier of the index scored (<see cref="ExhaustiveSearch"/>, same
    /// normalisation and prior). Its cost grows with the index, so it is a diagnostic for evaluation-sized indexes.
    /// </summary>
    public IReadOnlyList<SearchHit>[] SearchExhaustive(VokenTrie trie, SearchOptions options, IReadOnlyList<string> queries)
    {
        ArgumentNullException.ThrowIfNull(trie);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(queries);
        if (queries.Count == 0) return [];
        CheckIndex(_model, trie);
        _scorer.Prepare(_model.Vocabulary.EncodeMany(queries), queries.Count, _scorer.NeedsTextVectors ? _model.EncodeTexts(queries) : null);
        return ExhaustiveSearch.Search(trie, _scorer, queries.Count, options.K, options.Normalization, options.Prior);
    }

    public void Dispose() => _scorer.Dispose();

    /// <summary>The beam search for this trie and these options: kept while both stay the same (its buffers are sized by them).</summary>
    private ConstrainedBeamSearch SearchOver(IVokenTrieView trie, SearchOptions options)
    {
        if (_search is not null && ReferenceEquals(_searchTrie, trie) && _search.Options == options) return _search;
        CheckIndex(_model, trie);
        _search = new ConstrainedBeamSearch(trie, options);
        _searchTrie = trie;
        return _search;
    }

    /// <summary>Refuses an index whose identifiers were not made by <paramref name="model"/>'s bundle (another N or M).</summary>
    public static void CheckIndex(AvgModel model, IVokenTrieView trie)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(trie);
        var generator = model.Generator.Options;
        if (trie.CodebookSize != generator.CodebookSize || trie.Levels != generator.Levels)
            throw new AvgException($"index ({trie.CodebookSize} vokens × {trie.Levels}) was not made by this bundle ({generator.CodebookSize} × {generator.Levels})");
    }
}
