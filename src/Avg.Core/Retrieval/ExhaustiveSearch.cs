namespace Avg.Retrieval;

/// <summary>
/// Reference for <see cref="ConstrainedBeamSearch"/>: scores every sequence of the trie with the same scorer
/// and normalisation, then ranks them all. Cost grows with the trie, so it is for tests and small indexes.
/// </summary>
public static class ExhaustiveSearch
{
    /// <summary>Top-<paramref name="k"/> images per query over all sequences, ranked as beam search ranks them.</summary>
    public static IReadOnlyList<SearchHit>[] Search(
        VokenTrie trie, IVokenStepScorer scorer, int queryCount, int k, StepNormalization normalization = StepNormalization.FullVocabulary, VokenPrior? prior = null)
    {
        ArgumentNullException.ThrowIfNull(trie);
        ArgumentNullException.ThrowIfNull(scorer);
        var n = trie.CodebookSize;
        var depth = trie.Levels;
        scorer.BeginQueries(queryCount);

        // Every (query, node) pair of the current level is a beam; a level's nodes are all expanded.
        var queries = new List<int>();
        var nodes = new List<int>();
        var scores = new List<float>();
        var prefixes = new List<int>();
        if (trie.SequenceCount > 0)
        {
            for (var q = 0; q < queryCount; q++)
            {
                queries.Add(q);
                nodes.Add(VokenTrie.Root);
                scores.Add(0f);
            }
        }

        for (var t = 0; t < depth && queries.Count > 0; t++)
        {
            var logits = new float[queries.Count * n];
            scorer.Score(queries.ToArray(), prefixes.ToArray(), t, logits);
            var nextQueries = new List<int>();
            var nextNodes = new List<int>();
            var nextScores = new List<float>();
            var nextPrefixes = new List<int>();
            var parents = new List<int>();
            for (var b = 0; b < queries.Count; b++)
            {
                var row = logits.AsSpan(b * n, n);
                var children = trie.ChildrenOf(nodes[b]);
                var logZ = StepLogProbabilities.LogPartition(row, children.Vokens, normalization);
                for (var i = 0; i < children.Count; i++)
                {
                    nextQueries.Add(queries[b]);
                    nextNodes.Add(children.NodeAt(i));
                    nextScores.Add(scores[b] + (float)(row[children.Vokens[i]] - logZ) + (prior?.Bias(t, children.Vokens[i]) ?? 0f));
                    nextPrefixes.AddRange(prefixes.GetRange(b * t, t));
                    nextPrefixes.Add(children.Vokens[i]);
                    parents.Add(b);
                }
            }

            if (t + 1 < depth)
            {
                scorer.ReorderBeams(parents.ToArray());
            }

            (queries, nodes, scores, prefixes) = (nextQueries, nextNodes, nextScores, nextPrefixes);
        }

        var results = new IReadOnlyList<SearchHit>[queryCount];
        for (var q = 0; q < queryCount; q++)
        {
            var leaves = Enumerable.Range(0, queries.Count).Where(b => queries[b] == q)
                .OrderByDescending(b => scores[b]).ThenBy(b => nodes[b]);
            results[q] = leaves
                .SelectMany(b => trie.ImagesAt(nodes[b]).ToArray()
                    .Select(id => new SearchHit(id, scores[b], prefixes.GetRange(b * depth, depth).ToArray())))
                .Take(k)
                .ToList();
        }

        return results;
    }
}
