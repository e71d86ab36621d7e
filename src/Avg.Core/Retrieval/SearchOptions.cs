namespace Avg.Retrieval;

/// <summary>How a step's logits become log-probabilities when only some vokens may follow a prefix.</summary>
public enum StepNormalization
{
    /// <summary>
    /// Log-softmax over the vokens the trie allows after the prefix only: the constrained decoding of the
    /// paper (§3.3, after De Cao et al.), where probability mass on invalid vokens is redistributed, so every
    /// step's allowed probabilities sum to one. The default.
    /// </summary>
    AllowedVokens,

    /// <summary>
    /// Log-softmax over the whole vocabulary, then restricted to allowed vokens: scores are the model's
    /// unconstrained sequence log-probabilities (mass on invalid vokens is lost, penalising such prefixes).
    /// </summary>
    FullVocabulary,
}

/// <summary>Options of constrained beam search; defaults follow the paper (beam 20, Recall@10).</summary>
public sealed record SearchOptions
{
    /// <summary>Beam width b: prefixes kept per query at each step (paper: 20–30).</summary>
    public int Beam { get; init; } = 20;

    /// <summary>Length of the returned ranked image list per query.</summary>
    public int K { get; init; } = 10;

    public StepNormalization Normalization { get; init; } = StepNormalization.AllowedVokens;

    /// <summary>Throws a message naming the bad value when the options cannot be used.</summary>
    public SearchOptions Validate()
    {
        if (Beam < 1)
        {
            throw new AvgException($"Search beam width must be at least 1, got {Beam}.");
        }

        if (K < 1)
        {
            throw new AvgException($"Search K (images returned per query) must be at least 1, got {K}.");
        }

        if (!Enum.IsDefined(Normalization))
        {
            throw new AvgException($"Unknown step normalization {(int)Normalization}; use AllowedVokens or FullVocabulary.");
        }

        return this;
    }
}

/// <summary>One retrieved image: its id, the score of its voken sequence (sum of log-probabilities) and the sequence.</summary>
public sealed record SearchHit(long ImageId, float Score, int[] Vokens);
