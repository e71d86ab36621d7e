using System.Text.Json.Serialization;

namespace Avg.Models.Generation;

/// <summary>
/// Shape of the token-to-voken generator (paper §3.2): a small T5-style encoder–decoder sized for CPU training.
/// </summary>
public sealed record GeneratorOptions
{
    /// <summary>Compact text vocabulary size (ids seen in training + specials).</summary>
    public int TextVocabulary { get; init; }

    /// <summary>Codebook size N: the output vocabulary. Saved as "CodebookSize" in bundles' generator.bin.json.</summary>
    [JsonPropertyName("Vokens")]
    public int CodebookSize { get; init; }

    /// <summary>Identifier length M (levels). Saved as "Levels" in bundles' generator.bin.json.</summary>
    [JsonPropertyName("Length")]
    public int Levels { get; init; }

    public int Dim { get; init; } = 256;

    public int Heads { get; init; } = 4;

    public int EncoderLayers { get; init; } = 3;

    public int DecoderLayers { get; init; } = 3;

    public int FeedForward { get; init; } = 768;

    public int MaxTextLength { get; init; } = 32;

    /// <summary>
    /// Width of the query's text vector the decoder reads beside the encoded tokens (docs/design.md §1.3, "The query
    /// vector slot"): the two-tower text embedding v_t, one more memory position. 0, the paper's generator: tokens only.
    /// </summary>
    public int TextVectorWidth { get; init; }

    public double Dropout { get; init; } = 0.1;

    /// <summary>Output head shares the voken embedding matrix (T5-style tying), so copied codebook vectors also shape the logits.</summary>
    public bool TiedHead { get; init; } = true;

    public void Validate()
    {
        if (TextVocabulary < 3) throw new ArgumentException($"TextVocabulary must be at least 3, got {TextVocabulary}.");
        if (CodebookSize < 2) throw new ArgumentException($"CodebookSize must be at least 2, got {CodebookSize}.");
        if (Levels < 1) throw new ArgumentException($"Levels must be at least 1, got {Levels}.");
        if (Dim % Heads != 0) throw new ArgumentException($"Dim ({Dim}) must be a multiple of Heads ({Heads}).");
        if (TextVectorWidth < 0) throw new ArgumentException($"TextVectorWidth must be 0 (off) or a vector width, got {TextVectorWidth}.");
        if (Dropout is < 0 or >= 1) throw new ArgumentException($"Dropout must be in [0, 1), got {Dropout}.");
    }
}
