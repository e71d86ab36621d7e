namespace Avg.Models.Tokenization;

/// <summary>Shape of the cross-modal aligned tokenizer (paper §3.1). The paper's best codebook is 1024 codes × 4–6 levels; defaults here are smaller for CPU.</summary>
public sealed class AlignedTokenizerOptions
{
    /// <summary>Width d of the input vectors v_i (and of the codebook).</summary>
    public int InputDim { get; init; } = 256;

    /// <summary>Hidden width of the encoder and decoder MLPs.</summary>
    public int HiddenDim { get; init; } = 512;

    /// <summary>N: codes in the one codebook shared by all levels.</summary>
    public int CodebookSize { get; init; } = 256;

    /// <summary>M: residual steps, i.e. vokens per image.</summary>
    public int Levels { get; init; } = 4;

    public void Validate()
    {
        if (InputDim < 1) throw new ArgumentException($"InputDim must be positive (got {InputDim}).");
        if (HiddenDim < 1) throw new ArgumentException($"HiddenDim must be positive (got {HiddenDim}).");
        if (CodebookSize < 2) throw new ArgumentException($"CodebookSize must be at least 2 (got {CodebookSize}).");
        if (Levels < 1 || Levels > CodebookSize)
            throw new ArgumentException($"Levels must be between 1 and CodebookSize ({CodebookSize}); got {Levels}.");
    }
}

/// <summary>How <see cref="AlignedTokenizerTrainer"/> trains; loss weights of L = recon + β·commit + γ·codebook + λ·align.</summary>
public sealed class AlignedTokenizerTrainingOptions : IStageTrainingOptions
{
    public int Epochs { get; init; } = 20;

    public int BatchSize { get; init; } = 256;

    public double LearningRate { get; init; } = 1e-3;

    /// <summary>β on Σ_d ||z − sg(ẑ^(d))||² (paper eq. 4); 0.25 as in VQ-VAE / RQ-VAE.</summary>
    public double CommitWeight { get; init; } = 0.25;

    /// <summary>γ on Σ_d ||sg(z) − ẑ^(d)||²: the term that moves the codebook.</summary>
    public double CodebookWeight { get; init; } = 1.0;

    /// <summary>λ on ||v̂_i − v_t||² (paper eq. 5). 0 is the "without align" ablation (and IRGen-style tokenization).</summary>
    public double AlignWeight { get; init; } = 1.0;

    /// <summary>Initialise the codebook by level-by-level k-means on residuals of the encoded training vectors.</summary>
    public bool KMeansInit { get; init; } = true;

    public int KMeansIterations { get; init; } = 20;

    /// <summary>At most this many training vectors feed k-means (a seeded sample).</summary>
    public int KMeansSample { get; init; } = 20_000;

    /// <summary>After each epoch, codes no vector used are moved onto random current residuals.</summary>
    public bool ReseedDeadCodes { get; init; } = true;

    public int Seed { get; init; } = 7;

    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"Epochs must be positive (got {Epochs}).");
        if (BatchSize < 1) throw new ArgumentException($"BatchSize must be positive (got {BatchSize}).");
        if (LearningRate <= 0) throw new ArgumentException($"LearningRate must be positive (got {LearningRate}).");
        if (CommitWeight < 0 || CodebookWeight < 0 || AlignWeight < 0) throw new ArgumentException("Loss weights must not be negative.");
        if (KMeansIterations < 1 || KMeansSample < 1) throw new ArgumentException("KMeansIterations and KMeansSample must be positive.");
    }
}
