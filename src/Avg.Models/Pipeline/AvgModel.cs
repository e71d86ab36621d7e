using System.Text.Json;
using Avg.Models.Bundles;
using Avg.Models.Encoders;
using Avg.Models.Encoders.Pretrained;
using Avg.Models.Generation;
using Avg.Models.Runtime;
using Avg.Models.Text;
using Avg.Models.Tokenization;
using Avg.Quantization;
using Avg.Retrieval;
using TorchSharp;

namespace Avg.Models.Pipeline;

/// <summary>File names inside a model bundle.</summary>
public static class BundleFiles
{
    public const string Config = "config.json";
    public const string Vocabulary = "vocab.json";
    public const string Encoder = "encoder.bin";

    /// <summary>The projection heads over the pretrained backbones (bundles trained with <c>--encoder pretrained</c>).</summary>
    public const string Heads = "heads.bin";
    public const string Tokenizer = "tokenizer.bin";
    public const string Generator = "generator.bin";

    /// <summary>The collision ranking's fine codebooks (L·K rows of d floats, .npy); absent in bundles without it.</summary>
    public const string Fine = "fine.npy";

    /// <summary>A model file and the options file saved beside it.</summary>
    public static IEnumerable<string> WithOptions(string modelFile) => [modelFile, modelFile + ".json"];
}

/// <summary>What <c>config.json</c> records about how a bundle was trained and how to feed it.</summary>
public sealed record BundleConfig
{
    public int ImageSize { get; init; } = 64;

    /// <summary>
    /// "encoder" (built-in dual encoder), "pretrained" (frozen backbones named in <see cref="Backbones"/> and the bundle's
    /// heads) or "features" (precomputed vectors of <see cref="FeatureWidth"/>).
    /// </summary>
    public string FeatureSource { get; init; } = "encoder";

    public int FeatureWidth { get; init; }

    public int CodebookSize { get; init; }

    public int Levels { get; init; }

    /// <summary>Method key in evaluation reports (avg, avg_no_align, …, irgen).</summary>
    public string Method { get; init; } = "avg";

    public string Dataset { get; init; } = "";

    public int TrainImages { get; init; }

    public string VocabularyHash { get; init; } = "";

    /// <summary>
    /// Per level (M rows of N), how many train images' identifiers have each voken there: the frequencies
    /// <see cref="VokenPrior"/> divides out. Null in bundles written before it was recorded, and before the tokenizer stage.
    /// </summary>
    public int[][]? TrainVokenCounts { get; init; }

    /// <summary>L: fine codes per image (<see cref="Avg.Quantization.FineQuantizer"/>); 0 when the bundle has no fine codebooks.</summary>
    public int FineLevels { get; init; }

    /// <summary>K: codes per fine level.</summary>
    public int FineCodes { get; init; }

    public AvgTrainingOptions? Training { get; init; }

    /// <summary>The backbones and their SHA-256s, for "pretrained" bundles: referenced, not copied into the bundle.</summary>
    public BackboneRecord? Backbones { get; init; }

    /// <summary>
    /// The beam and collision weight of searches that give none (`avg eval`, `avg-bench`, the silos); null in bundles
    /// written before they were recorded, which search with <see cref="SearchDefaults.Standard"/>.
    /// </summary>
    public SearchDefaults? Search { get; init; }

    /// <summary><see cref="Search"/>, or <see cref="SearchDefaults.Standard"/> where the bundle records none.</summary>
    public SearchDefaults SearchOrStandard => Search ?? SearchDefaults.Standard;

    public bool UsesEncoder => FeatureSource == "encoder";

    public bool UsesPretrained => FeatureSource == "pretrained";

    /// <summary>Whether v_i and v_t come from raw images and texts (built-in or pretrained encoder), not from given features.</summary>
    public bool EncodesRaw => UsesEncoder || UsesPretrained;
}

/// <summary>
/// A loaded, verified model bundle: text vocabulary, optional dual encoder, aligned tokenizer and generator.
/// Turns images into vokens and queries into ranked voken sequences.
/// </summary>
public sealed class AvgModel : IDisposable
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    private AvgModel(ModelBundle bundle, BundleConfig config, TextVocabulary vocabulary, DualEncoder? encoder, PretrainedEncoder? pretrained,
        AlignedTokenizer tokenizer, TokenToVokenGenerator generator, FineQuantizer? fine, torch.Device device)
    {
        Pretrained = pretrained;
        Fine = fine;
        VokenCodebook = tokenizer.Codebook;
        Bundle = bundle;
        Config = config;
        Vocabulary = vocabulary;
        Encoder = encoder;
        Tokenizer = tokenizer;
        Generator = generator;
        Device = device;
    }

    public ModelBundle Bundle { get; }

    public BundleConfig Config { get; }

    public TextVocabulary Vocabulary { get; }

    /// <summary>The built-in dual encoder; null when the bundle was trained on precomputed features.</summary>
    public DualEncoder? Encoder { get; }

    /// <summary>The frozen backbones and trained heads; null unless the bundle was trained with <c>--encoder pretrained</c>.</summary>
    public PretrainedEncoder? Pretrained { get; }

    /// <summary>Whether raw images (and texts) can be encoded: true with the built-in or the pretrained encoder, false for a bundle trained on features.</summary>
    public bool AcceptsImages => Encoder is not null || Pretrained is not null;

    public AlignedTokenizer Tokenizer { get; }

    public TokenToVokenGenerator Generator { get; }

    public torch.Device Device { get; }

    /// <summary>The collision ranking's fine codebooks; null when the bundle has none.</summary>
    public FineQuantizer? Fine { get; }

    /// <summary>C, N × d: the tokenizer's codebook (the vokens' vectors).</summary>
    public float[] VokenCodebook { get; }

    /// <summary>
    /// Why this bundle cannot rank within collisions, or null when it can: the ranking needs fine codebooks and the
    /// built-in text encoder (the query's vector).
    /// </summary>
    public string? CollisionRankingUnavailable => Fine is null
        ? $"{Bundle.Directory} has no fine codebooks; add them with `avg train --stage fine --from {Bundle.Directory} --data D --out B`"
        : Encoder is null && Pretrained is null ? $"{Bundle.Directory} was trained on precomputed features and has no text encoder for the query vector" : null;

    /// <summary>Opens and verifies a bundle (hashes, required stages, vocabulary binding) and loads its models.</summary>
    public static AvgModel Load(string directory, string device = "auto", int threads = 0)
    {
        var bundle = ModelBundle.Open(directory, BundleFiles.Config, BundleFiles.Vocabulary, BundleFiles.Tokenizer, BundleFiles.Generator);
        var config = ReadConfig(bundle.PathOf(BundleFiles.Config));
        var torchDevice = TorchRuntime.Select(device, threads);
        var vocabulary = TextVocabulary.Load(bundle.PathOf(BundleFiles.Vocabulary));
        if (!string.IsNullOrEmpty(config.VocabularyHash) && vocabulary.Hash != config.VocabularyHash)
            throw new AvgException($"{directory}: text vocabulary {vocabulary.Hash} does not match the one the models were trained with ({config.VocabularyHash}); retrain the bundle");
        var encoder = config.UsesEncoder ? DualEncoder.Load(bundle.PathOf(BundleFiles.Encoder), torchDevice) : null;
        var pretrained = config.UsesPretrained ? PretrainedEncoder.Open(bundle, config, torchDevice, threads) : null;
        var tokenizer = AlignedTokenizer.Load(bundle.PathOf(BundleFiles.Tokenizer), torchDevice);
        var generator = TokenToVokenGenerator.Load(bundle.PathOf(BundleFiles.Generator), torchDevice);
        if (generator.Options.CodebookSize != tokenizer.Options.CodebookSize || generator.Options.Levels != tokenizer.Options.Levels)
            throw new AvgException($"{directory}: generator ({generator.Options.CodebookSize} vokens × {generator.Options.Levels}) does not match the tokenizer ({tokenizer.Options.CodebookSize} × {tokenizer.Options.Levels}); retrain the generator stage");
        encoder?.eval();
        tokenizer.eval();
        FineQuantizer? fine = null;
        if (config.FineLevels > 0)
        {
            var width = tokenizer.Options.InputDim;
            var rows = config.FineLevels * config.FineCodes;
            fine = new FineQuantizer(Avg.Data.NpyMatrix.Read(bundle.PathOf(BundleFiles.Fine), rows, width, "fine code"), width, config.FineLevels, config.FineCodes);
        }
        return new AvgModel(bundle, config, vocabulary, encoder, pretrained, tokenizer, generator, fine, torchDevice);
    }

    public static BundleConfig ReadConfig(string path)
    {
        try
        {
            var config = JsonSerializer.Deserialize<BundleConfig>(File.ReadAllText(path)) ?? throw new AvgException($"{path}: empty bundle config");
            config.Search?.Validate(path);
            return config;
        }
        catch (JsonException e)
        {
            throw new AvgException($"{path}: damaged bundle config ({e.Message})", e);
        }
    }

    public static void WriteConfig(string path, BundleConfig config) => File.WriteAllText(path, JsonSerializer.Serialize(config, Json));

    /// <summary>Image vectors v_i (rows, L2-normalised) from decoded pixels; needs the built-in or pretrained encoder.</summary>
    public float[] EncodeImages(ImageData images) =>
        Pretrained?.EncodeImages(images) ?? RequireEncoder().EncodeImages(images);

    /// <summary>Caption vectors v_t (rows, L2-normalised); needs the built-in or pretrained encoder.</summary>
    public float[] EncodeTexts(IReadOnlyList<string> texts) =>
        Pretrained?.EncodeTexts(texts) ?? RequireEncoder().EncodeTexts(Vocabulary.EncodeMany(texts));

    /// <summary>Voken sequences (rows of M) for image vectors: the image's identifier in the index.</summary>
    public int[] Tokenize(float[] imageVectors) => Tokenizer.Encode(imageVectors);

    /// <summary>Fine codes (rows of L bytes) of images with these vectors and identifiers; empty when the bundle has no fine codebooks.</summary>
    public byte[] FineCodes(float[] imageVectors, int[] vokens) =>
        Fine?.EncodeImages(imageVectors, vokens, Config.Levels, VokenCodebook) ?? [];

    /// <summary>A ranker for the collision ranking (one per thread); throws when <see cref="CollisionRankingUnavailable"/>.</summary>
    public CollisionRanker CreateCollisionRanker() =>
        CollisionRankingUnavailable is { } why ? throw new AvgException($"cannot rank within collisions: {why}") : new CollisionRanker(VokenCodebook, Fine!);

    /// <summary>
    /// The train voken frequencies to divide out of search scores at weight α (<see cref="SearchOptions.Prior"/>);
    /// refuses a bundle that does not record them.
    /// </summary>
    public VokenPrior VokenPrior(double weight)
    {
        if (VokenPriorUnavailable is { } why) throw new AvgException(why);
        return Retrieval.VokenPrior.FromCounts(Config.TrainVokenCounts!, weight);
    }

    /// <summary>Why this bundle cannot search with a prior (it does not record usable train voken frequencies); null when it can.</summary>
    public string? VokenPriorUnavailable =>
        Config.TrainVokenCounts is not { } counts
            ? $"{Bundle.Directory}: this bundle does not record its train voken frequencies (it was trained before they were); retrain it, or its generator stage with `avg train --stage generator --from {Bundle.Directory} …`, to search with a prior weight"
            : counts.Length != Config.Levels || counts.Any(level => level is null || level.Length != Config.CodebookSize)
                ? $"{Bundle.Directory}: config.json's train voken counts are not {Config.Levels} levels of {Config.CodebookSize}; retrain the bundle"
                : null;

    /// <summary>
    /// The prior a search ranks with: at <paramref name="weight"/> when one is given (refusing a bundle that does not
    /// record its train frequencies), else at <paramref name="preset"/>'s weight where the bundle records them, and
    /// none where it does not (the paper's score). Null when the weight is 0.
    /// </summary>
    public VokenPrior? SearchPrior(double? weight, SearchPreset preset = SearchPreset.Default)
    {
        if (weight is { } given) return given > 0 ? VokenPrior(given) : null;
        var fallback = preset.PriorWeight();
        return fallback > 0 && VokenPriorUnavailable is null ? VokenPrior(fallback) : null;
    }

    /// <summary>
    /// A searcher over <paramref name="trie"/>; not thread-safe: one per thread. With <see cref="SearchOptions.CollisionWeight"/>
    /// set it ranks within collisions by the images' <paramref name="fineCodes"/>.
    /// </summary>
    public AvgSearcher CreateSearcher(VokenTrie trie, SearchOptions options, IFineCodeLookup? fineCodes = null) => new(this, trie, options, fineCodes);

    public void Dispose()
    {
        Encoder?.Dispose();
        Pretrained?.Dispose();
        Tokenizer.Dispose();
        Generator.Dispose();
    }

    private DualEncoder RequireEncoder() => Encoder ?? throw new AvgException(
        $"{Bundle.Directory}: this bundle was trained on precomputed features and has no image/text encoder; give feature vectors instead");
}

/// <summary>
/// Constrained beam search of the generator over one in-process trie, for batches of text queries: the
/// <see cref="SearchExecutor"/> with its trie, options and fine codes fixed.
/// </summary>
public sealed class AvgSearcher : IDisposable
{
    private readonly SearchExecutor executor;
    private readonly VokenTrie trie;
    private readonly SearchOptions options;
    private readonly IFineCodeLookup? fineCodes;

    internal AvgSearcher(AvgModel model, VokenTrie trie, SearchOptions options, IFineCodeLookup? fineCodes)
    {
        SearchExecutor.CheckIndex(model, trie);
        this.trie = trie;
        this.options = options.Validate();
        if (options.CollisionWeight is not null)
        {
            if (model.CollisionRankingUnavailable is { } why) throw new AvgException($"cannot rank within collisions: {why}");
            this.fineCodes = fineCodes ?? throw new AvgException("collision ranking needs the index's fine codes");
        }
        executor = new SearchExecutor(model);
    }

    /// <summary>Ranked hits per query (image id, score = sum of log-probs, vokens).</summary>
    public IReadOnlyList<SearchHit>[] Search(IReadOnlyList<string> queries) => executor.Search(trie, options, queries, fineCodes);

    /// <summary>
    /// The same ranking with no search error: every sequence of the index scored (<see cref="ExhaustiveSearch"/>, same
    /// normalisation and prior). Its cost grows with the index, so it is a diagnostic for evaluation-sized indexes.
    /// </summary>
    public IReadOnlyList<SearchHit>[] SearchExhaustive(IReadOnlyList<string> queries) => executor.SearchExhaustive(trie, options, queries);

    public void Dispose() => executor.Dispose();
}
