namespace Avg.Models.Pipeline;

/// <summary>Which part of training to run: all stages, or one (earlier stages then come from <c>--from</c>).</summary>
public enum TrainingStage
{
    All,
    Encoder,
    Tokenizer,
    Generator,

    /// <summary>Only the fine codebooks of the collision ranking; encoder, tokenizer and generator come from <c>--from</c>.</summary>
    Fine,
}

/// <summary>Where v_i and v_t come from when no precomputed features are given.</summary>
public enum EncoderKind
{
    /// <summary>The built-in dual encoder, trained from scratch on the dataset.</summary>
    Scratch,

    /// <summary>Frozen ResNet-18 and all-MiniLM-L6-v2 backbones with trained projection heads (<see cref="Encoders.Pretrained.ProjectionHeads"/>).</summary>
    Pretrained,
}

/// <summary>Everything `avg train` decides, with defaults sized for a 2-core CPU (docs/training.md says why).</summary>
public sealed record AvgTrainingOptions
{
    public int ImageSize { get; init; } = 64;

    public string Device { get; init; } = "auto";

    public int Threads { get; init; }

    public int Seed { get; init; } = 7;

    /// <summary>
    /// The named recipe the settings not given came from: "default" (this recipe, docs/training.md) or "paper" (the
    /// paper's L_dis weight of 1 and no fine codebooks, so searches rank by the generator score alone). Recorded in the bundle.
    /// </summary>
    public string Preset { get; init; } = "default";

    // Dual encoder (two-tower baseline; source of v_i and v_t).
    /// <summary>Built-in dual encoder from scratch, or frozen pretrained backbones with trained heads (whose epochs are <see cref="EncoderEpochs"/>).</summary>
    public EncoderKind Encoder { get; init; } = EncoderKind.Scratch;

    public int EmbeddingDim { get; init; } = 256;

    public int EncoderEpochs { get; init; } = 8;

    /// <summary>Smaller CNN widths for quick runs (e.g. 16,32,64,128); null = the encoder's defaults.</summary>
    public IReadOnlyList<int>? ImageChannels { get; init; }

    // Aligned tokenizer (§3.1).
    public int CodebookSize { get; init; } = 64;

    public int Levels { get; init; } = 4;

    public int TokenizerEpochs { get; init; } = 30;

    /// <summary>L_align on; off for "w/o cross-modal alignment" and IRGen.</summary>
    public bool Align { get; init; } = true;

    /// <summary>
    /// L: fine codes per image after its identifier, for the collision ranking (<see cref="Avg.Quantization.FineQuantizer"/>);
    /// one byte each in the index. 0 = none.
    /// </summary>
    public int FineLevels { get; init; } = 2;

    // Generator (§3.2).
    public int GeneratorDim { get; init; } = 128;

    public int GeneratorLayers { get; init; } = 3;

    /// <summary>Decoder layers when they differ from the encoder's (<see cref="GeneratorLayers"/>); null = the same.</summary>
    public int? GeneratorDecoderLayers { get; init; }

    /// <summary>Peak learning rate of the generator (paper §4.2: 1e-3), reached after warm-up, then cosine decay.</summary>
    public double GeneratorLearningRate { get; init; } = 1e-3;

    public int GeneratorEpochs { get; init; } = 12;

    public int GeneratorBatch { get; init; } = 128;

    /// <summary>Dropout in the generator's layers and embeddings.</summary>
    public double GeneratorDropout { get; init; } = 0.1;

    /// <summary>Captions are sorted by length within pools of this many batches, so batches pad little; 1 = off.</summary>
    public int GeneratorLengthPool { get; init; } = 50;

    /// <summary>Voken embeddings copied from the codebook; off for "w/o voken embedding".</summary>
    public bool VokenEmbedding { get; init; } = true;

    /// <summary>
    /// The generator's decoder reads the query's two-tower text vector v_t beside its tokens (docs/design.md §1.3,
    /// "The query vector slot"): what the text encoder knows of words the generator's own vocabulary never saw.
    /// Needs a text encoder in the bundle (built-in or pretrained); off in the paper's generator.
    /// </summary>
    public bool GeneratorTextVector { get; init; }

    /// <summary>
    /// Start the generator's text embeddings and encoder layers from the dual encoder's text tower (same vocabulary):
    /// the stand-in for the paper's pretrained T5. Only with the built-in encoder; docs/training.md has the measured effect.
    /// </summary>
    public bool TextWarmStart { get; init; } = true;

    /// <summary>
    /// Train the generator on balanced identifiers (last voken reassigned so fewer train images share a sequence,
    /// <see cref="Tokenization.AlignedTokenizer.EncodeBalanced"/>); `avg eval` then indexes balanced too.
    /// </summary>
    public bool BalancedVokens { get; init; }

    /// <summary>L_dis on; off for "w/o discriminative loss" and IRGen.</summary>
    public bool Discriminative { get; init; } = true;

    public int DiscriminativeBeam { get; init; } = 10;

    /// <summary>
    /// w in L_gen + w·L_dis. The paper sums them (w = 1); on Shapes, whose captions fit many images, w = 1 cost
    /// R@10 35.2 → 11.5 and w = 0.1 → 32.7 (docs/training.md), so the default is 0.1; --dis-weight 1 is the paper's.
    /// </summary>
    public double DiscriminativeWeight { get; init; } = 0.1;

    /// <summary>L_dis's step normalisation (candidate search and scores); see <see cref="Generation.GeneratorTrainingOptions.DiscriminativeNormalization"/>.</summary>
    public Retrieval.StepNormalization DiscriminativeNormalization { get; init; } = Retrieval.StepNormalization.FullVocabulary;

    /// <summary>Share of generator steps on L_gen alone before L_dis joins, so the beams it ranks mean something.</summary>
    public double DiscriminativeStart { get; init; } = 0.3;

    /// <summary>
    /// λ of the two-tower distillation term (not in the paper): the generator's next-voken target is
    /// (1 − λ)·(the caption's own image) + λ·(the two-tower's soft targets over train images,
    /// <see cref="Generation.TeacherTargets"/>). Off by default: on the 20K set it lifts one generator epoch from
    /// R@10 36.9 to 40.6 but adds nothing after ten (docs/training.md).
    /// </summary>
    public double DistillWeight { get; init; }

    /// <summary>
    /// μ of the soft L_dis targets (not in the paper): L_dis's target over its candidate sequences is
    /// (1 − μ)·(the caption's own image) + μ·(the two-tower's softmax over the candidates' images, τ as
    /// <see cref="DistillTemperature"/>). 0 = eq. 9's one-hot positive.
    /// </summary>
    public double DiscriminativeTeacherWeight { get; init; }

    /// <summary>τ of the teacher's softmax over train images (cosine similarities / τ); 0.02 measured best of 0.02–0.1.</summary>
    public double DistillTemperature { get; init; } = 0.02;

    /// <summary>
    /// Beam b recorded in the bundle for the searches that give none (<see cref="Retrieval.SearchDefaults"/>): wider
    /// with the pretrained encoder, whose collision ranking gains from more leaves (docs/training.md, "Search defaults").
    /// </summary>
    public int SearchBeam { get; init; } = Retrieval.SearchLimits.DefaultBeam;

    /// <summary>Collision ranking weight w recorded in the bundle for the searches that give none.</summary>
    public double SearchCollisionWeight { get; init; } = Retrieval.SearchOptions.DefaultCollisionWeight;

    /// <summary>The search defaults these options record in the bundle.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public Retrieval.SearchDefaults SearchDefaults => new(SearchBeam, SearchCollisionWeight);

    /// <summary>Precomputed features instead of the built-in encoder (.npy, rows aligned with the dataset).</summary>
    public string? ImageFeatures { get; init; }

    public string? CaptionFeatures { get; init; }

    /// <summary>The eval JSON's method key for a bundle trained with these switches.</summary>
    public string MethodKey => (Align, VokenEmbedding, Discriminative) switch
    {
        (false, _, false) => "irgen",
        (false, _, _) => "avg_no_align",
        (_, false, _) => "avg_no_voken_embedding",
        (_, _, false) => "avg_no_discriminative",
        _ => "avg",
    };

    public void Validate()
    {
        if (ImageSize is < 16 or > 512) throw new AvgException($"--image-size must be between 16 and 512, got {ImageSize}");
        if (CodebookSize < 2) throw new AvgException($"--codebook must be at least 2, got {CodebookSize}");
        if (Levels is < 1 or > 16) throw new AvgException($"--levels must be between 1 and 16, got {Levels}");
        if (FineLevels is < 0 or > 8) throw new AvgException($"--fine-levels must be between 0 and 8, got {FineLevels}");
        if (DiscriminativeWeight < 0) throw new AvgException($"--dis-weight must not be negative, got {DiscriminativeWeight}");
        if (DiscriminativeStart is < 0 or > 1) throw new AvgException($"--dis-start must be between 0 and 1, got {DiscriminativeStart}");
        if (DistillWeight is < 0 or > 1) throw new AvgException($"--distill must be between 0 and 1, got {DistillWeight}");
        if (DiscriminativeTeacherWeight is < 0 or > 1) throw new AvgException($"--dis-teacher must be between 0 and 1, got {DiscriminativeTeacherWeight}");
        if (DistillTemperature <= 0) throw new AvgException($"--distill-temperature must be above 0, got {DistillTemperature}");
        if (GeneratorTextVector && ImageFeatures is not null) throw new AvgException("--generator-text-vector needs a text encoder in the bundle; a bundle trained on --image-features/--caption-features has none");
        if (GeneratorDropout is < 0 or >= 1) throw new AvgException($"--generator-dropout must be in [0, 1), got {GeneratorDropout}");
        if (GeneratorLengthPool < 1) throw new AvgException($"--length-pool must be at least 1, got {GeneratorLengthPool}");
        if (GeneratorLayers < 1 || GeneratorDecoderLayers is < 1) throw new AvgException("generator layers must be at least 1");
        if (GeneratorLearningRate is <= 0 or > 1) throw new AvgException($"--generator-lr must be in (0, 1], got {GeneratorLearningRate}");
        if (EncoderEpochs < 1 || TokenizerEpochs < 1 || GeneratorEpochs < 1) throw new AvgException("epochs must be at least 1");
        if (SearchBeam is < Retrieval.SearchLimits.MinBeam or > Retrieval.SearchLimits.MaxBeam)
            throw new AvgException($"--search-beam must be between {Retrieval.SearchLimits.MinBeam} and {Retrieval.SearchLimits.MaxBeam}, got {SearchBeam}");
        if (!Retrieval.SearchOptions.IsValidCollisionWeight(SearchCollisionWeight))
            throw new AvgException($"--search-collision-weight must be a number ≥ 0, got {SearchCollisionWeight.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        if ((ImageFeatures is null) != (CaptionFeatures is null))
            throw new AvgException("--image-features and --caption-features go together; give both or neither");
    }
}
