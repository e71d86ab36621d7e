namespace Avg.Retrieval;

/// <summary>
/// Constrained beam search over a <see cref="VokenTrie"/> or any <see cref="IVokenTrieView"/> (paper §3.3): generates voken sequences step by step,
/// only along trie edges, keeps the top-b prefixes per query (b per level with <see cref="SearchOptions.LevelBeams"/>), then expands the final leaves to their images:
/// K of them, or <see cref="SearchOptions.CandidateCount"/> when a <see cref="CollisionRanker"/> ranks them next (<see cref="SearchOptions.CollisionWeight"/>).
/// </summary>
/// <remarks>
/// A sequence's score is the sum of its step log-probabilities (normalised as <see cref="SearchOptions.Normalization"/>
/// says), less α · log P_train of each voken when <see cref="SearchOptions.Prior"/> is set. Ties are broken by voken sequence, lexicographically ascending (the trie's node order), so results are
/// deterministic (the view's <see cref="IVokenTrieView.CompareNodes"/>). Images of one leaf share its score and come in ascending id order. Buffers are reused across
/// steps and searches, so an instance is not thread-safe: use one per thread (it is cheap next to the model).
/// </remarks>
public sealed class ConstrainedBeamSearch
{
    private readonly IVokenTrieView _trie;
    private readonly SearchOptions _options;

    private int _capacityQueries;
    private int[] _beamQuery = [];
    private int[] _beamNode = [];
    private float[] _beamScore = [];
    private int[] _prefix = [];
    private int[] _nextQuery = [];
    private int[] _nextNode = [];
    private float[] _nextScore = [];
    private int[] _nextPrefix = [];
    private int[] _parentBeam = [];
    private float[] _logits = [];

    // Per-query top-b candidates of a level (key: trie node; payload: parent beam).
    private readonly BoundedTopK<TrieOrder> _best;

    public ConstrainedBeamSearch(VokenTrie trie, SearchOptions options)
        : this((IVokenTrieView)trie, options)
    {
    }

    /// <summary>A search over any trie view, e.g. one assembled from cluster partitions.</summary>
    public ConstrainedBeamSearch(IVokenTrieView trie, SearchOptions options)
    {
        ArgumentNullException.ThrowIfNull(trie);
        ArgumentNullException.ThrowIfNull(options);
        _trie = trie;
        _options = options.Validate();
        _best = new BoundedTopK<TrieOrder>(options.WidestBeam, new TrieOrder(trie));
    }

    public IVokenTrieView Trie => _trie;

    public SearchOptions Options => _options;

    /// <summary>Runs the search for queries 0 .. <paramref name="queryCount"/>−1 of the scorer's batch; one ranked list per query.</summary>
    public IReadOnlyList<SearchHit>[] Search(IVokenStepScorer scorer, int queryCount)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        ArgumentOutOfRangeException.ThrowIfNegative(queryCount);
        if (scorer.CodebookSize != _trie.CodebookSize)
        {
            throw new AvgException(
                $"The scorer gives logits for {scorer.CodebookSize} vokens but the trie's codebook has {_trie.CodebookSize}: the index was built with another model bundle.");
        }

        if (_options.Prior is { } prior && (prior.Levels != _trie.Levels || prior.CodebookSize != _trie.CodebookSize))
        {
            throw new AvgException(
                $"The voken prior is for {prior.CodebookSize} vokens × {prior.Levels} but the trie is {_trie.CodebookSize} × {_trie.Levels}: it comes from another model bundle.");
        }

        if (_options.LevelBeams is { } widths && widths.Count != _trie.Levels)
        {
            throw new AvgException(
                $"{widths.Count} level beams [{string.Join(",", widths)}] were given for sequences of {_trie.Levels} vokens: give one width per voken level.");
        }

        EnsureCapacity(queryCount);
        var n = _trie.CodebookSize;
        var depth = _trie.Levels;
        scorer.BeginQueries(queryCount);

        var beams = 0;
        if (!_trie.IsEmpty)
        {
            for (var q = 0; q < queryCount; q++)
            {
                _beamQuery[q] = q;
                _beamNode[q] = VokenTrie.Root;
                _beamScore[q] = 0f;
            }

            beams = queryCount;
        }

        for (var t = 0; t < depth && beams > 0; t++)
        {
            var logits = _logits.AsSpan(0, beams * n);
            scorer.Score(_beamQuery.AsSpan(0, beams), _prefix.AsSpan(0, beams * t), t, logits);
            var next = 0;
            var b = 0;
            while (b < beams)
            {
                // Beams of one query are contiguous: [b, end).
                var query = _beamQuery[b];
                var end = b;
                while (end < beams && _beamQuery[end] == query)
                {
                    end++;
                }

                next = SelectTopBeams(b, end, t, query, next, logits);
                b = end;
            }

            if (t + 1 < depth)
            {
                _trie.WillExpand(_nextNode.AsSpan(0, next), t + 1);
                scorer.ReorderBeams(_parentBeam.AsSpan(0, next));
            }

            Swap(ref _beamQuery, ref _nextQuery);
            Swap(ref _beamNode, ref _nextNode);
            Swap(ref _beamScore, ref _nextScore);
            Swap(ref _prefix, ref _nextPrefix);
            beams = next;
        }

        return ExpandLeaves(queryCount, beams, depth);
    }

    /// <summary>Scores every allowed child of beams [from, to) of one query; appends the top-b to the next step's beams.</summary>
    private int SelectTopBeams(int from, int to, int t, int query, int next, ReadOnlySpan<float> logits)
    {
        var n = _trie.CodebookSize;
        var bias = _options.Prior is { } prior ? prior.LevelBias(t) : default;
        _best.Reset(_options.BeamAt(t));
        for (var b = from; b < to; b++)
        {
            var children = _trie.ChildrenOf(_beamNode[b]);
            var row = logits.Slice(b * n, n);
            var logZ = StepLogProbabilities.LogPartition(row, children.Vokens, _options.Normalization);
            var parentScore = _beamScore[b];
            for (var i = 0; i < children.Count; i++)
            {
                var voken = children.Vokens[i];
                var score = parentScore + (float)(row[voken] - logZ);
                if (!bias.IsEmpty)
                {
                    score += bias[voken];
                }

                _best.Offer(score, children.NodeAt(i), b);
            }
        }

        // Pop worst-first into the tail so the query's new beams come out best-first.
        var start = next;
        var kept = _best.Count;
        for (var size = kept; size > 0; size--)
        {
            var slot = start + size - 1;
            (_nextScore[slot], _nextNode[slot], _parentBeam[slot]) = _best.PopWorst();
            _nextQuery[slot] = query;
        }

        for (var slot = start; slot < start + kept; slot++)
        {
            var parent = _parentBeam[slot];
            var destination = _nextPrefix.AsSpan(slot * (t + 1), t + 1);
            _prefix.AsSpan(parent * t, t).CopyTo(destination);
            destination[t] = _trie.VokenOf(_nextNode[slot]);
        }

        return start + kept;
    }

    /// <summary>Ranking order after the score: equal scores by lexicographically smaller sequence first.</summary>
    private readonly struct TrieOrder(IVokenTrieView trie) : IKeyTieBreak
    {
        public bool Before(int key, int other) => trie.CompareNodes(key, other) < 0;
    }

    private IReadOnlyList<SearchHit>[] ExpandLeaves(int queryCount, int beams, int depth)
    {
        var results = new IReadOnlyList<SearchHit>[queryCount];
        var lists = new List<SearchHit>[queryCount];
        var limit = _options.CandidateCount;
        for (var q = 0; q < queryCount; q++)
        {
            lists[q] = new List<SearchHit>(Math.Min(_options.CandidateCount, 1024));
            results[q] = lists[q];
        }

        for (var b = 0; b < beams; b++)
        {
            var list = lists[_beamQuery[b]];
            if (list.Count >= limit)
            {
                continue;
            }

            var vokens = _prefix.AsSpan(b * depth, depth).ToArray();
            foreach (var id in _trie.ImagesAt(_beamNode[b]))
            {
                if (list.Count >= limit)
                {
                    break;
                }

                list.Add(new SearchHit(id, _beamScore[b], vokens));
            }
        }

        return results;
    }

    private void EnsureCapacity(int queryCount)
    {
        if (queryCount <= _capacityQueries)
        {
            return;
        }

        var maxBeams = checked(queryCount * _options.WidestBeam);
        var depth = _trie.Levels;
        _beamQuery = new int[maxBeams];
        _beamNode = new int[maxBeams];
        _beamScore = new float[maxBeams];
        _prefix = new int[maxBeams * depth];
        _nextQuery = new int[maxBeams];
        _nextNode = new int[maxBeams];
        _nextScore = new float[maxBeams];
        _nextPrefix = new int[maxBeams * depth];
        _parentBeam = new int[maxBeams];
        _logits = new float[checked(maxBeams * _trie.CodebookSize)];
        _capacityQueries = queryCount;
    }

    private static void Swap<T>(ref T a, ref T b) => (a, b) = (b, a);
}

/// <summary>Turns one beam's logits into log-probabilities over the allowed vokens (shared by all searches so scores agree bit for bit).</summary>
public static class StepLogProbabilities
{
    /// <summary>
    /// log Σ exp(logit) over the normalisation set: the allowed vokens, or the whole row; log p(v) = logit[v] − result.
    /// Computed in double, scalar, in a fixed order, so the same inputs give the same bits on every machine.
    /// </summary>
    public static double LogPartition(ReadOnlySpan<float> logits, ReadOnlySpan<int> allowed, StepNormalization normalization)
    {
        if (normalization == StepNormalization.FullVocabulary)
        {
            var max = double.NegativeInfinity;
            foreach (var x in logits)
            {
                max = Math.Max(max, x);
            }

            var sum = 0.0;
            foreach (var x in logits)
            {
                sum += Math.Exp(x - max);
            }

            return max + Math.Log(sum);
        }
        else
        {
            var max = double.NegativeInfinity;
            foreach (var v in allowed)
            {
                max = Math.Max(max, logits[v]);
            }

            var sum = 0.0;
            foreach (var v in allowed)
            {
                sum += Math.Exp(logits[v] - max);
            }

            return max + Math.Log(sum);
        }
    }
}
