using System.Text.Json;
using Avg.Models.Bundles;
using Avg.Models.Encoders;
using Avg.Models.Generation;
using Avg.Models.Runtime;
using Avg.Models.Text;
using Avg.Models.Tokenization;
using Avg.Retrieval;
using TorchSharp;

namespace Avg.Models.Pipeline;

/// <summary>File names inside a model bundle.</summary>
public static class BundleFiles
{
    public const string Config = "config.json";
    public const string Vocabulary = "vocab.json";
    public const string Encoder = "encoder.bin";
    public const string Tokenizer = "tokenizer.bin";
    public const string Generator = "generator.bin";

    /// <summary>A model file and the options file saved beside it.</summary>
    public static IEnumerable<string> WithOptions(string modelFile) => [modelFile, modelFile + ".json"];
}

/// <summary>What <c>config.json</c> records about how a bundle was trained and how to feed it.</summary>
public sealed record BundleConfig
{
    public int ImageSize { get; init; } = 64;

    /// <summary>"encoder" (built-in dual encoder) or "features" (precomputed vectors of <see cref="FeatureWidth"/>).</summary>
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

    public AvgTrainingOptions? Training { get; init; }

    public bool UsesEncoder => FeatureSource == "encoder";
}

/// <summary>
/// A loaded, verified model bundle: text vocabulary, optional dual encoder, aligned tokenizer and generator.
/// Turns images into vokens and queries into ranked voken sequences.
/// </summary>
public sealed class AvgModel : IDisposable
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    private AvgModel(ModelBundle bundle, BundleConfig config, TextVocabulary vocabulary, DualEncoder? encoder,
        AlignedTokenizer tokenizer, TokenToVokenGenerator generator, torch.Device device)
    {
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

    public AlignedTokenizer Tokenizer { get; }

    public TokenToVokenGenerator Generator { get; }

    public torch.Device Device { get; }

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
        var tokenizer = AlignedTokenizer.Load(bundle.PathOf(BundleFiles.Tokenizer), torchDevice);
        var generator = TokenToVokenGenerator.Load(bundle.PathOf(BundleFiles.Generator), torchDevice);
        if (generator.Options.Vokens != tokenizer.Options.CodebookSize || generator.Options.Length != tokenizer.Options.Levels)
            throw new AvgException($"{directory}: generator ({generator.Options.Vokens} vokens × {generator.Options.Length}) does not match the tokenizer ({tokenizer.Options.CodebookSize} × {tokenizer.Options.Levels}); retrain the generator stage");
        encoder?.eval();
        tokenizer.eval();
        return new AvgModel(bundle, config, vocabulary, encoder, tokenizer, generator, torchDevice);
    }

    public static BundleConfig ReadConfig(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<BundleConfig>(File.ReadAllText(path)) ?? throw new AvgException($"{path}: empty bundle config");
        }
        catch (JsonException e)
        {
            throw new AvgException($"{path}: damaged bundle config ({e.Message})", e);
        }
    }

    public static void WriteConfig(string path, BundleConfig config) => File.WriteAllText(path, JsonSerializer.Serialize(config, Json));

    /// <summary>Image vectors v_i (rows, L2-normalised) from decoded pixels; needs the built-in encoder.</summary>
    public float[] EncodeImages(ImageData images) => RequireEncoder().EncodeImages(images);

    /// <summary>Caption vectors v_t (rows, L2-normalised); needs the built-in encoder.</summary>
    public float[] EncodeTexts(IReadOnlyList<string> texts) => RequireEncoder().EncodeTexts(Vocabulary.EncodeMany(texts));

    /// <summary>Voken sequences (rows of M) for image vectors: the image's identifier in the index.</summary>
    public int[] Tokenize(float[] imageVectors) => Tokenizer.Encode(imageVectors);

    /// <summary>
    /// The train voken frequencies to divide out of search scores at weight α (<see cref="SearchOptions.Prior"/>);
    /// refuses a bundle that does not record them.
    /// </summary>
    public VokenPrior VokenPrior(double weight)
    {
        if (Config.TrainVokenCounts is not { } counts)
            throw new AvgException($"{Bundle.Directory}: this bundle does not record its train voken frequencies (it was trained before they were); retrain it, or its generator stage with `avg train --stage generator --from {Bundle.Directory} …`, to search with a prior weight");
        if (counts.Length != Config.Levels || counts.Any(level => level is null || level.Length != Config.CodebookSize))
            throw new AvgException($"{Bundle.Directory}: config.json's train voken counts are not {Config.Levels} levels of {Config.CodebookSize}; retrain the bundle");
        return Retrieval.VokenPrior.FromCounts(counts, weight);
    }

    /// <summary>A searcher over <paramref name="trie"/>; not thread-safe: one per thread.</summary>
    public AvgSearcher CreateSearcher(VokenTrie trie, SearchOptions options) => new(this, trie, options);

    public void Dispose()
    {
        Encoder?.Dispose();
        Tokenizer.Dispose();
        Generator.Dispose();
    }

    private DualEncoder RequireEncoder() => Encoder ?? throw new AvgException(
        $"{Bundle.Directory}: this bundle was trained on precomputed features and has no image/text encoder; give feature vectors instead");
}

/// <summary>Constrained beam search of the generator over one trie, for batches of text queries.</summary>
public sealed class AvgSearcher : IDisposable
{
    private readonly AvgModel model;
    private readonly ConstrainedBeamSearch search;
    private readonly GeneratorScorer scorer;
    private readonly VokenTrie trie;

    internal AvgSearcher(AvgModel model, VokenTrie trie, SearchOptions options)
    {
        if (trie.VocabularySize != model.Generator.Options.Vokens || trie.Depth != model.Generator.Options.Length)
            throw new AvgException($"index ({trie.VocabularySize} vokens × {trie.Depth}) was not made by this bundle ({model.Generator.Options.Vokens} × {model.Generator.Options.Length})");
        this.model = model;
        this.trie = trie;
        search = new ConstrainedBeamSearch(trie, options.Validate());
        scorer = new GeneratorScorer(model.Generator);
    }

    /// <summary>Ranked hits per query (image id, score = sum of log-probs, vokens).</summary>
    public IReadOnlyList<SearchHit>[] Search(IReadOnlyList<string> queries)
    {
        ArgumentNullException.ThrowIfNull(queries);
        if (queries.Count == 0) return [];
        scorer.Prepare(model.Vocabulary.EncodeMany(queries), queries.Count);
        return search.Search(scorer, queries.Count);
    }

    /// <summary>
    /// The same ranking with no search error: every sequence of the index scored (<see cref="ExhaustiveSearch"/>, same
    /// normalisation and prior). Its cost grows with the index, so it is a diagnostic for evaluation-sized indexes.
    /// </summary>
    public IReadOnlyList<SearchHit>[] SearchExhaustive(IReadOnlyList<string> queries)
    {
        ArgumentNullException.ThrowIfNull(queries);
        if (queries.Count == 0) return [];
        scorer.Prepare(model.Vocabulary.EncodeMany(queries), queries.Count);
        var options = search.Options;
        return ExhaustiveSearch.Search(trie, scorer, queries.Count, options.K, options.Normalization, options.Prior);
    }

    public void Dispose() => scorer.Dispose();
}
