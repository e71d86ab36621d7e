namespace Avg.Retrieval;

/// <summary>How a step's logits become log-probabilities when only some vokens may follow a prefix.</summary>
public enum StepNormalization
{
    /// <summary>
    /// Log-softmax over the vokens the trie allows after the prefix only: probability mass on invalid vokens is
    /// redistributed, so every step's allowed probabilities sum to one. A prefix with few children then passes
    /// almost all of its mass to them, which favours sparse subtrees: on the 20K Shapes set this ranks R@10 52.1
    /// against 60.6 for <see cref="FullVocabulary"/> (docs/training.md).
    /// </summary>
    AllowedVokens,

    /// <summary>
    /// Log-softmax over the whole vocabulary, then restricted to allowed vokens: a sequence's score is the model's
    /// own log-probability of it. This is what constrained generation in the usual toolkits computes (Hugging Face
    /// <c>generate(prefix_allowed_tokens_fn=…)</c> and fairseq mask the log-softmax, not the logits) — the
    /// decoding of the paper's T5 generator. The default.
    /// </summary>
    FullVocabulary,
}

/// <summary>The names a <see cref="StepNormalization"/> goes by on command lines and in reports: "full" and "allowed".</summary>
public static class StepNormalizationNames
{
    public static string Name(StepNormalization normalization) =>
        normalization == StepNormalization.AllowedVokens ? "allowed" : "full";

    /// <summary>Parses <paramref name="value"/>; a bad one is an error naming <paramref name="option"/>.</summary>
    public static StepNormalization Parse(string? value, string option) => value switch
    {
        "full" => StepNormalization.FullVocabulary,
        "allowed" => StepNormalization.AllowedVokens,
        _ => throw new AvgException($"{option} '{value}': expected allowed or full"),
    };
}

/// <summary>Options of constrained beam search; defaults follow the paper (beam 20, Recall@10).</summary>
public sealed record SearchOptions
{
    /// <summary>Beam width b: prefixes kept per query at each step (paper: 20–30).</summary>
    public int Beam { get; init; } = 20;

    /// <summary>
    /// Prefixes kept per query after each step, one width per voken level, in place of <see cref="Beam"/> at every
    /// level; null (the default) is the paper's uniform beam. Step t runs the generator on the beams kept after step
    /// t − 1, so the widths of levels 1 … M−1 set the cost and the last one only how many leaves are ranked. On the
    /// 20K Shapes set the second level is where a beam of 20 loses the image (docs/training.md, "Search error").
    /// </summary>
    public IReadOnlyList<int>? LevelBeams { get; init; }

    /// <summary>Prefixes kept per query after step <paramref name="level"/> (0-based).</summary>
    public int BeamAt(int level) => LevelBeams is { } widths ? widths[level] : Beam;

    /// <summary>The widest step: what buffers are sized for.</summary>
    public int WidestBeam => LevelBeams is { Count: > 0 } widths ? widths.Max() : Beam;

    /// <summary>Length of the returned ranked image list per query.</summary>
    public int K { get; init; } = 10;

    public StepNormalization Normalization { get; init; } = StepNormalization.FullVocabulary;

    /// <summary>
    /// Train voken frequencies to divide out of each step (score − α · log P_train); null for the paper's score, the
    /// sum of log-probabilities. See <see cref="VokenPrior"/>.
    /// </summary>
    public VokenPrior? Prior { get; init; }

    /// <summary>
    /// w of the collision ranking (<see cref="CollisionRanker"/>): the leaves' images are ranked again by score +
    /// w · q·v̂; null for the generator's score alone (images of one leaf then tie and come in id order).
    /// </summary>
    public double? CollisionWeight { get; init; }

    /// <summary>Images taken from the best leaves for the collision ranking to choose the top <see cref="K"/> from.</summary>
    public int CollisionCandidates { get; init; } = DefaultCollisionCandidates;

    /// <summary>The collision ranking's weight w where it is on by default (the silo, <c>avg eval</c>'s "…_ranked" figures).</summary>
    public const double DefaultCollisionWeight = 30;

    /// <summary>Whether <paramref name="weight"/> can be a <see cref="CollisionWeight"/>: finite and at least 0 (0 turns the ranking off).</summary>
    public static bool IsValidCollisionWeight(double weight) => double.IsFinite(weight) && weight >= 0;

    /// <summary>Default of <see cref="CollisionCandidates"/>.</summary>
    public const int DefaultCollisionCandidates = 200;

    /// <summary>Images the beam search collects from its leaves: K, or the collision ranking's candidates when it runs.</summary>
    public int CandidateCount => CollisionWeight is null ? K : Math.Max(K, CollisionCandidates);

    /// <summary>Throws a message naming the bad value when the options cannot be used.</summary>
    public SearchOptions Validate()
    {
        if (Beam < 1)
        {
            throw new AvgException($"Search beam width must be at least 1, got {Beam}.");
        }

        if (LevelBeams is { } widths && (widths.Count == 0 || widths.Any(w => w < 1)))
        {
            throw new AvgException($"Search level beams must be one width of at least 1 per voken level, got [{string.Join(",", widths)}].");
        }

        if (K < 1)
        {
            throw new AvgException($"Search K (images returned per query) must be at least 1, got {K}.");
        }

        if (CollisionWeight is { } weight && !IsValidCollisionWeight(weight))
        {
            throw new AvgException($"Collision ranking weight must be a finite number of at least 0, got {weight}.");
        }

        if (CollisionCandidates < 1)
        {
            throw new AvgException($"Collision ranking candidates must be at least 1, got {CollisionCandidates}.");
        }

        if (!Enum.IsDefined(Normalization))
        {
            throw new AvgException($"Unknown step normalization {(int)Normalization}; use AllowedVokens or FullVocabulary.");
        }

        return this;
    }
}

/// <summary>One retrieved image: its id, the score of its voken sequence (sum of log-probabilities, less the prior's terms when <see cref="SearchOptions.Prior"/> is set) and the sequence.</summary>
public sealed record SearchHit(long ImageId, float Score, int[] Vokens);
