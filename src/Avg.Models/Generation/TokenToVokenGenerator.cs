using Avg;
using Avg.Models.Encoders;
using Avg.Models.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Avg.Models.Generation;

/// <summary>
/// The autoregressive model AM of paper §3.2: text tokens in, a distribution over the next voken out.
/// T5-style pre-norm encoder–decoder with learned positions; the decoder's vocabulary is the N vokens plus a
/// start token, and (when tied) the output head is the voken embedding matrix itself.
/// </summary>
public sealed class TokenToVokenGenerator : nn.Module<Tensor, Tensor, Tensor>
{
    /// <summary>Additive mask value for padding: large but finite, so an all-padding row cannot produce NaN.</summary>
    private const double MaskedOut = -1e9;

    private readonly Embedding textEmbedding, textPositions, vokenEmbedding, vokenPositions;
    private readonly ModuleList<EncoderLayer> encoder;
    private readonly ModuleList<DecoderLayer> decoder;
    private readonly RmsNorm encoderNorm, decoderNorm;
    private readonly Linear? head;
    private readonly Linear? textVector;
    private readonly RmsNorm? textVectorNorm;
    private readonly Dropout drop;

    public TokenToVokenGenerator(GeneratorOptions options) : base(nameof(TokenToVokenGenerator))
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        textEmbedding = nn.Embedding(options.TextVocabulary, options.Dim);
        textPositions = nn.Embedding(options.MaxTextLength, options.Dim);
        vokenEmbedding = nn.Embedding(options.CodebookSize + 1, options.Dim); // row N is the start token
        vokenPositions = nn.Embedding(options.Levels, options.Dim);
        encoder = nn.ModuleList(Enumerable.Range(0, options.EncoderLayers).Select(_ => new EncoderLayer(options)).ToArray());
        decoder = nn.ModuleList(Enumerable.Range(0, options.DecoderLayers).Select(_ => new DecoderLayer(options)).ToArray());
        encoderNorm = new RmsNorm(options.Dim);
        decoderNorm = new RmsNorm(options.Dim);
        head = options.TiedHead ? null : nn.Linear(options.Dim, options.CodebookSize, hasBias: false);
        if (options.TextVectorWidth > 0)
        {
            textVector = nn.Linear(options.TextVectorWidth, options.Dim);
            textVectorNorm = new RmsNorm(options.Dim);
        }
        drop = nn.Dropout(options.Dropout);
        RegisterComponents();
        using (no_grad())
        {
            foreach (var embedding in new[] { textEmbedding, textPositions, vokenEmbedding, vokenPositions })
                nn.init.normal_(embedding.weight, 0, 0.02);
        }
    }

    public GeneratorOptions Options { get; }

    /// <summary>Index of the start token in the decoder's input vocabulary.</summary>
    public int StartToken => Options.CodebookSize;

    /// <summary>
    /// Initialises the voken embeddings from the tokenizer's codebook (paper: "copy the voken's embedding into the
    /// vocabulary"). Rows are rescaled to the embedding's initial scale; a codebook of another width is first
    /// projected by a fixed random Gaussian map (Johnson–Lindenstrauss), which keeps the codes' geometry.
    /// </summary>
    public void CopyCodebook(float[] codebook, int codebookWidth, long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(codebook);
        if (codebook.Length != Options.CodebookSize * codebookWidth)
            throw new ArgumentException($"codebook has {codebook.Length} values, expected {Options.CodebookSize}×{codebookWidth}", nameof(codebook));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var codes = tensor(codebook).reshape(Options.CodebookSize, codebookWidth);
        if (codebookWidth != Options.Dim)
        {
            var generator = new Generator((ulong)seed);
            var projection = randn(codebookWidth, Options.Dim, generator: generator).DividedBy(Math.Sqrt(Options.Dim));
            codes = codes.matmul(projection);
        }
        // Centre and rescale so the copied codes sit at the embedding's scale (std 0.02), keeping their directions.
        codes = codes - codes.mean([0L], keepdim: true);
        codes = (codes / codes.std().Plus(1e-8)).Times(0.02);
        vokenEmbedding.weight!.narrow(0, 0, Options.CodebookSize).copy_(codes.to(vokenEmbedding.weight.device));
    }

    /// <summary>
    /// Starts the text embeddings (tokens and positions) from a pretrained text tower over the same vocabulary — our
    /// stand-in for the paper's pretrained T5 encoder, which no one can download here. Tables of another width are
    /// projected by a fixed random Gaussian map; rows beyond either table keep their random start.
    /// </summary>
    public void CopyTextEmbeddings(float[] tokens, float[] positions, int width, long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(positions);
        if (width < 1 || tokens.Length % width != 0 || positions.Length % width != 0)
            throw new ArgumentException($"embedding tables of {tokens.Length} and {positions.Length} values are not rows of width {width}");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var projection = width == Options.Dim ? null : randn(width, Options.Dim, generator: new Generator((ulong)seed)).DividedBy(Math.Sqrt(Options.Dim));
        foreach (var (table, target) in new[] { (tokens, textEmbedding), (positions, textPositions) })
        {
            var rows = (int)Math.Min(table.Length / width, target.weight!.shape[0]);
            var values = tensor(table).reshape(-1, width).narrow(0, 0, rows);
            if (projection is not null) values = values.matmul(projection);
            target.weight.narrow(0, 0, rows).copy_(values.to(target.weight.device));
        }
    }

    /// <summary>
    /// Starts the encoder's layers from a trained text tower of the same width, heads and MLP size: layer i takes
    /// the tower's layer i (norm gains, the fused qkv split into q, k and v, the output and MLP matrices; the
    /// tower's biases and LayerNorm centring have no place in the T5-style layers and are dropped), the final norm
    /// takes its gain, and encoder layers beyond the tower's start as the identity (output projections zeroed).
    /// Returns the number of layers copied: 0 when the shapes differ, leaving the encoder as it was.
    /// </summary>
    public int CopyTextLayers(TextTowerLayers tower)
    {
        ArgumentNullException.ThrowIfNull(tower);
        if (tower.Width != Options.Dim || tower.Heads != Options.Heads || Options.FeedForward != 4 * tower.Width) return 0;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var own = named_parameters().ToDictionary(p => p.name, p => p.parameter);
        void Copy(string target, Tensor source) => own[target].copy_(source.to(own[target].device));
        var copied = Math.Min(tower.Layers, Options.EncoderLayers);
        for (var i = 0; i < copied; i++)
        {
            var w = tower.Weights;
            var qkv = w[$"layers.{i}.qkv.weight"].chunk(3, 0);
            Copy($"encoder.{i}.norm1.weight", w[$"layers.{i}.attentionNorm.weight"]);
            Copy($"encoder.{i}.attention.q.weight", qkv[0]);
            Copy($"encoder.{i}.attention.k.weight", qkv[1]);
            Copy($"encoder.{i}.attention.v.weight", qkv[2]);
            Copy($"encoder.{i}.attention.o.weight", w[$"layers.{i}.output.weight"]);
            Copy($"encoder.{i}.norm2.weight", w[$"layers.{i}.mlpNorm.weight"]);
            Copy($"encoder.{i}.ff.up.weight", w[$"layers.{i}.mlp.0.weight"]);
            Copy($"encoder.{i}.ff.down.weight", w[$"layers.{i}.mlp.2.weight"]);
        }
        for (var i = copied; i < Options.EncoderLayers; i++)
        {
            own[$"encoder.{i}.attention.o.weight"].zero_();
            own[$"encoder.{i}.ff.down.weight"].zero_();
        }
        Copy("encoderNorm.weight", tower.Weights["finalNorm.weight"]);
        return copied;
    }

    /// <summary>Whether the decoder reads the query's text vector too (<see cref="GeneratorOptions.TextVectorWidth"/>): then <see cref="Encode"/> needs it.</summary>
    public bool ReadsTextVector => textVector is not null;

    /// <summary>
    /// Encodes text ids (B × L, 0 = padding) into memory (B × L' × D) and its additive padding mask (B × 1 × 1 × L').
    /// Trailing columns that are padding in every row are cut first (L' ≤ L): the mask already hides them, so the
    /// result is the same and the encoder does not pay for them. A generator that reads the query's text vector
    /// (<paramref name="textVectors"/>, B × <see cref="GeneratorOptions.TextVectorWidth"/>) puts it, projected and
    /// normalised, in front of the encoded tokens as one more memory position the decoder attends to.
    /// </summary>
    public (Tensor Memory, Tensor Mask) Encode(Tensor textIds, Tensor? textVectors = null)
    {
        ArgumentNullException.ThrowIfNull(textIds);
        var used = textIds.Ne(0).any(0).nonzero();
        var keep = used.shape[0] == 0 ? 1 : used.max().item<long>() + 1;
        if (keep < textIds.shape[1]) textIds = textIds.narrow(1, 0, keep);
        var length = textIds.shape[1];
        var positions = HeldScalars.Arange(length, textIds.device);
        var x = drop.call(textEmbedding.call(textIds).Plus(textPositions.call(positions)));
        var mask = textIds.Eq(0).to(float32).Times(MaskedOut).unsqueeze(1).unsqueeze(1);
        foreach (var layer in encoder) x = layer.call(x, mask);
        x = encoderNorm.call(x);
        if (textVector is null) return (x, mask);
        if (textVectors is null || textVectors.shape[0] != textIds.shape[0] || textVectors.shape[1] != Options.TextVectorWidth)
            throw new ArgumentException($"This generator reads each query's text vector ({Options.TextVectorWidth} values) beside its tokens: give {textIds.shape[0]} of them.", nameof(textVectors));
        var slot = textVectorNorm!.call(textVector.call(textVectors.to(x.device))).unsqueeze(1);
        var open = zeros(textIds.shape[0], 1, 1, 1, dtype: float32, device: mask.device);
        return (cat([slot, x], 1), cat([open, mask], 3));
    }

    /// <summary>Per-layer cross-attention keys and values of encoded text: computed once per query (the KV cache).</summary>
    public CrossAttentionCache PrepareCache(Tensor memory, Tensor mask)
    {
        var keys = new Tensor[decoder.Count];
        var values = new Tensor[decoder.Count];
        for (var i = 0; i < decoder.Count; i++) (keys[i], values[i]) = decoder[i].CrossKeysValues(memory);
        return new CrossAttentionCache(keys, values, mask);
    }

    /// <summary>
    /// Next-voken logits for every position of <paramref name="prefixes"/> (B × t voken ids, t ≥ 0): returns B × (t+1) × N.
    /// <paramref name="rows"/> maps each prefix to its query row in <paramref name="cache"/> (beams share their query's cache).
    /// </summary>
    public Tensor DecodeLogits(Tensor prefixes, CrossAttentionCache cache, Tensor? rows = null) =>
        Decode(prefixes, cache, rows, lastPositionOnly: false);

    /// <summary>
    /// Next-voken logits after each prefix only (B × N), what beam search needs: the same values as the last position of
    /// <see cref="DecodeLogits"/>, but the last decoder layer, the final norm and the head run at that position alone
    /// (earlier layers still run at every position, since the last layer's self-attention reads them all).
    /// </summary>
    public Tensor NextLogits(Tensor prefixes, CrossAttentionCache cache, Tensor? rows = null) =>
        Decode(prefixes, cache, rows, lastPositionOnly: true);

    private Tensor Decode(Tensor prefixes, CrossAttentionCache cache, Tensor? rows, bool lastPositionOnly)
    {
        ArgumentNullException.ThrowIfNull(prefixes);
        ArgumentNullException.ThrowIfNull(cache);
        var batch = prefixes.shape[0];
        var start = HeldScalars.Full(batch, 1, StartToken, prefixes.device, int64);
        var inputs = prefixes.shape[1] == 0 ? start : cat([start, prefixes], 1);
        var positions = HeldScalars.Arange(inputs.shape[1], prefixes.device);
        var x = drop.call(vokenEmbedding.call(inputs).Plus(vokenPositions.call(positions)));
        for (var i = 0; i < decoder.Count; i++)
        {
            var (keys, values, mask) = rows is null
                ? (cache.Keys[i], cache.Values[i], cache.Mask)
                : (cache.Keys[i].index_select(0, rows), cache.Values[i].index_select(0, rows), cache.Mask.index_select(0, rows));
            x = lastPositionOnly && i == decoder.Count - 1
                ? decoder[i].StepLast(x, keys, values, mask)
                : decoder[i].Step(x, keys, values, mask);
        }
        x = decoderNorm.call(x);
        if (lastPositionOnly) x = x.squeeze(1);
        return head is null
            ? x.matmul(vokenEmbedding.weight!.narrow(0, 0, Options.CodebookSize).t()).Times(Math.Pow(Options.Dim, -0.5))
            : head.call(x);
    }

    /// <summary>Writes the weights to <paramref name="path"/> and the options to <c>path.json</c>.</summary>
    public void Save(string path)
    {
        ModelFiles.Save(this, Options, path);
    }

    /// <summary>Loads a generator saved by <see cref="Save"/>, in evaluation mode.</summary>
    public static TokenToVokenGenerator Load(string path, Device? device = null)
    {
        var options = ModelFiles.ReadOptions<GeneratorOptions>(path, "generator", "train the generator stage first");
        var model = new TokenToVokenGenerator(options);
        if (device is not null) model.to(device);
        model.load(path);
        model.eval();
        return model;
    }

    /// <summary>Teacher-forced logits (B × M × N) for target voken sequences (B × M): the input of L_gen (eq. 7).</summary>
    public override Tensor forward(Tensor textIds, Tensor targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        var (memory, mask) = Encode(textIds);
        var cache = PrepareCache(memory, mask);
        return DecodeLogits(targets.narrow(1, 0, targets.shape[1] - 1), cache);
    }
}

/// <summary>Cross-attention keys/values per decoder layer for a batch of encoded queries, plus their padding mask.</summary>
public sealed record CrossAttentionCache(Tensor[] Keys, Tensor[] Values, Tensor Mask);
