using Avg.Models.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Avg.Models.Encoders;

/// <summary>Encoder_t of paper eq. 1: token embedding + learned positions, pre-norm transformer layers, masked mean pool, linear to d, L2-normalised.</summary>
public sealed class TextEncoder : nn.Module<Tensor, Tensor>
{
    private readonly Embedding tokens;
    private readonly Parameter positions;
    private readonly ModuleList<PreNormTransformerLayer> layers;
    private readonly LayerNorm finalNorm;
    private readonly Linear projection;
    private readonly int heads;

    public TextEncoder(int vocabularySize, int maxLength, int width, int layerCount, int heads, int embeddingDim)
        : base(nameof(TextEncoder))
    {
        tokens = nn.Embedding(vocabularySize, width, padding_idx: Text.TextVocabulary.PadId);
        positions = nn.Parameter(torch.randn(maxLength, width).Times(0.02));
        layers = nn.ModuleList(Enumerable.Range(0, layerCount).Select(_ => new PreNormTransformerLayer(width, heads)).ToArray());
        finalNorm = nn.LayerNorm(width);
        projection = nn.Linear(width, embeddingDim);
        this.heads = heads;
        RegisterComponents();
    }

    /// <summary>Token embedding table (vocabulary × width) and learned positions (maxLength × width), copied out.</summary>
    public (float[] Tokens, float[] Positions, int Width) EmbeddingTables()
    {
        using var scope = torch.NewDisposeScope();
        var width = (int)positions.shape[1];
        return (tokens.weight!.detach().cpu().contiguous().data<float>().ToArray(),
                positions.detach().cpu().contiguous().data<float>().ToArray(), width);
    }

    /// <summary>
    /// The transformer layers' weights, detached CPU copies keyed by parameter name (layers.{i}.qkv.weight, …,
    /// finalNorm.weight), with the head count: the generator's encoder layers start from them.
    /// </summary>
    public TextTowerLayers ExportLayers()
    {
        var weights = new Dictionary<string, Tensor>();
        foreach (var (name, value) in state_dict())
        {
            if (name.StartsWith("layers.", StringComparison.Ordinal) || name.StartsWith("finalNorm.", StringComparison.Ordinal))
                weights[name] = value.detach().cpu().clone();
        }
        return new TextTowerLayers(weights, (int)positions.shape[1], layers.Count, heads);
    }

    /// <param name="ids">B×L int64 token ids, padded with <see cref="Text.TextVocabulary.PadId"/>.</param>
    /// <returns>B×d unit vectors.</returns>
    public override Tensor forward(Tensor ids)
    {
        ids = TrimPadding(ids);
        var keep = ids.Ne(Text.TextVocabulary.PadId);                       // B×L
        var x = tokens.call(ids).Plus(positions[..(int)ids.shape[1]]);
        foreach (var layer in layers) x = layer.call(x, keep);
        var weights = keep.unsqueeze(2).to_type(x.dtype);
        var pooled = (finalNorm.call(x) * weights).sum(1) / weights.sum(1).ClampMin(1);
        return nn.functional.normalize(projection.call(pooled), dim: 1);
    }

    /// <summary>
    /// Drops the columns after the last real token of the batch: captions average ~12 ids of 32, and the
    /// pads are masked anyway, so this is exact and halves the text tower's cost on CPU.
    /// </summary>
    private static Tensor TrimPadding(Tensor ids)
    {
        var positions = HeldScalars.Arange(1, ids.shape[1] + 1, ids.device).unsqueeze(0);
        var used = ids.Ne(Text.TextVocabulary.PadId).to_type(ScalarType.Int64).mul(positions).max().item<long>();
        return used > 0 && used < ids.shape[1] ? ids.narrow(1, 0, used) : ids;
    }
}

/// <summary>x + Attn(LN(x)), then x + MLP(LN(x)); padded keys are masked out of attention.</summary>
public sealed class PreNormTransformerLayer : nn.Module<Tensor, Tensor, Tensor>
{
    private const int MlpExpansion = 4;
    private const double MaskedScore = -1e9;

    private readonly int heads;
    private readonly LayerNorm attentionNorm;
    private readonly Linear qkv;
    private readonly Linear output;
    private readonly LayerNorm mlpNorm;
    private readonly Sequential mlp;

    public PreNormTransformerLayer(int width, int heads) : base(nameof(PreNormTransformerLayer))
    {
        this.heads = heads;
        attentionNorm = nn.LayerNorm(width);
        qkv = nn.Linear(width, 3L * width);
        output = nn.Linear(width, width);
        mlpNorm = nn.LayerNorm(width);
        mlp = nn.Sequential(nn.Linear(width, MlpExpansion * width), nn.GELU(), nn.Linear(MlpExpansion * width, width));
        RegisterComponents();
    }

    /// <param name="x">B×L×W.</param>
    /// <param name="keep">B×L bool, true for real tokens.</param>
    public override Tensor forward(Tensor x, Tensor keep)
    {
        var (batch, length, width) = (x.shape[0], x.shape[1], x.shape[2]);
        var split = qkv.call(attentionNorm.call(x)).view(batch, length, 3, heads, width / heads).permute(2, 0, 3, 1, 4);
        var bias = torch.zeros_like(keep, dtype: x.dtype).MaskedFill(keep.logical_not(), MaskedScore).view(batch, 1, 1, length);
        var attended = nn.functional.scaled_dot_product_attention(split[0], split[1], split[2], attn_mask: bias);
        x = x.Plus(output.call(attended.transpose(1, 2).reshape(batch, length, width)));
        return x.Plus(mlp.call(mlpNorm.call(x)));
    }
}

/// <summary>
/// A trained text tower's transformer layers (pre-norm LayerNorm, fused qkv, GELU MLP), as exported for the
/// generator's warm start; dispose to free the copies.
/// </summary>
public sealed record TextTowerLayers(IReadOnlyDictionary<string, Tensor> Weights, int Width, int Layers, int Heads) : IDisposable
{
    public void Dispose()
    {
        foreach (var tensor in Weights.Values) tensor.Dispose();
    }
}
