namespace Avg.Models.Text;

/// <summary>How a <see cref="TextVocabulary"/> is built from training captions.</summary>
public sealed class TextVocabularyOptions
{
    /// <summary>A base token seen fewer times than this in training maps to &lt;unk&gt;; keeps rare typos out of the embedding table.</summary>
    public int MinCount { get; init; } = 2;

    /// <summary>Every caption becomes exactly this many ids: truncated, or padded with &lt;pad&gt;.</summary>
    public int MaxLength { get; init; } = 32;

    public void Validate()
    {
        if (MinCount < 1) throw new ArgumentException($"MinCount must be at least 1 (got {MinCount}).", nameof(MinCount));
        if (MaxLength < 1) throw new ArgumentException($"MaxLength must be at least 1 (got {MaxLength}).", nameof(MaxLength));
    }
}
