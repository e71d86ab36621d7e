using Avg.Models.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Avg.Models.Generation;

/// <summary>Root-mean-square layer norm (T5's pre-norm): x · g / rms(x), no mean subtraction, no bias.</summary>
internal sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double eps;

    public RmsNorm(int dim, double eps = 1e-6) : base(nameof(RmsNorm))
    {
        weight = nn.Parameter(ones(dim));
        this.eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => x * rsqrt(x.Pow(2).mean([-1L], keepdim: true).Plus(eps)) * weight;
}

/// <summary>Multi-head attention with separate projections so cross-attention keys/values can be computed once per query.</summary>
internal sealed class Attention : nn.Module<Tensor, Tensor, Tensor?, Tensor>
{
    private readonly Linear q, k, v, o;
    private readonly int heads;
    private readonly double dropout;

    public Attention(int dim, int heads, double dropout) : base(nameof(Attention))
    {
        this.heads = heads;
        this.dropout = dropout;
        q = nn.Linear(dim, dim, hasBias: false);
        k = nn.Linear(dim, dim, hasBias: false);
        v = nn.Linear(dim, dim, hasBias: false);
        o = nn.Linear(dim, dim, hasBias: false);
        RegisterComponents();
    }

    /// <summary>Self- or cross-attention: queries from <paramref name="x"/>, keys/values from <paramref name="context"/>.</summary>
    public override Tensor forward(Tensor x, Tensor context, Tensor? mask) => Attend(x, Keys(context), Values(context), mask);

    /// <summary>Projected keys, B × heads × L × dh.</summary>
    public Tensor Keys(Tensor context) => Split(k.call(context));

    /// <summary>Projected values, B × heads × L × dh.</summary>
    public Tensor Values(Tensor context) => Split(v.call(context));

    /// <summary>Attention over precomputed keys/values; <paramref name="mask"/> is additive (broadcast to B × heads × T × L).</summary>
    public Tensor Attend(Tensor x, Tensor keys, Tensor values, Tensor? mask)
    {
        var query = Split(q.call(x));
        var attended = nn.functional.scaled_dot_product_attention(query, keys, values, mask, training ? dropout : 0.0);
        var (b, t) = (x.shape[0], x.shape[1]);
        return o.call(attended.transpose(1, 2).reshape(b, t, -1));
    }

    private Tensor Split(Tensor x) => x.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2);
}

/// <summary>Position-wise feed-forward with GELU.</summary>
internal sealed class FeedForward : nn.Module<Tensor, Tensor>
{
    private readonly Linear up, down;
    private readonly Dropout drop;

    public FeedForward(int dim, int hidden, double dropout) : base(nameof(FeedForward))
    {
        up = nn.Linear(dim, hidden, hasBias: false);
        down = nn.Linear(hidden, dim, hasBias: false);
        drop = nn.Dropout(dropout);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => down.call(drop.call(nn.functional.gelu(up.call(x))));
}

/// <summary>Pre-norm encoder layer: x + SelfAttn(norm x); x + FF(norm x).</summary>
internal sealed class EncoderLayer : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly RmsNorm norm1, norm2;
    private readonly Attention attention;
    private readonly FeedForward ff;
    private readonly Dropout drop;

    public EncoderLayer(GeneratorOptions o) : base(nameof(EncoderLayer))
    {
        norm1 = new RmsNorm(o.Dim);
        norm2 = new RmsNorm(o.Dim);
        attention = new Attention(o.Dim, o.Heads, o.Dropout);
        ff = new FeedForward(o.Dim, o.FeedForward, o.Dropout);
        drop = nn.Dropout(o.Dropout);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor paddingMask)
    {
        var h = norm1.call(x);
        x = x.Plus(drop.call(attention.call(h, h, paddingMask)));
        return x.Plus(drop.call(ff.call(norm2.call(x))));
    }
}

/// <summary>Pre-norm decoder layer: causal self-attention, cross-attention over the text, feed-forward.</summary>
internal sealed class DecoderLayer : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly RmsNorm norm1, norm2, norm3;
    private readonly Attention self, cross;
    private readonly FeedForward ff;
    private readonly Dropout drop;

    public DecoderLayer(GeneratorOptions o) : base(nameof(DecoderLayer))
    {
        norm1 = new RmsNorm(o.Dim);
        norm2 = new RmsNorm(o.Dim);
        norm3 = new RmsNorm(o.Dim);
        self = new Attention(o.Dim, o.Heads, o.Dropout);
        cross = new Attention(o.Dim, o.Heads, o.Dropout);
        ff = new FeedForward(o.Dim, o.FeedForward, o.Dropout);
        drop = nn.Dropout(o.Dropout);
        RegisterComponents();
    }

    /// <summary>Cross-attention keys and values for this layer: computed once per query, reused by every beam and step.</summary>
    public (Tensor Keys, Tensor Values) CrossKeysValues(Tensor memory) => (cross.Keys(memory), cross.Values(memory));

    public override Tensor forward(Tensor x, Tensor memory, Tensor memoryMask)
    {
        var (keys, values) = CrossKeysValues(memory);
        return Step(x, keys, values, memoryMask);
    }

    public Tensor Step(Tensor x, Tensor crossKeys, Tensor crossValues, Tensor memoryMask)
    {
        var t = x.shape[1];
        var causal = triu(HeldScalars.Full(t, t, double.NegativeInfinity, x.device), 1);
        var h = norm1.call(x);
        x = x.Plus(drop.call(self.call(h, h, causal)));
        x = x.Plus(drop.call(cross.Attend(norm2.call(x), crossKeys, crossValues, memoryMask)));
        return x.Plus(drop.call(ff.call(norm3.call(x))));
    }

    /// <summary><see cref="Step"/> for the last position only (B × 1 × d): it attends to every position, so no causal mask.</summary>
    public Tensor StepLast(Tensor x, Tensor crossKeys, Tensor crossValues, Tensor memoryMask)
    {
        var h = norm1.call(x);
        var last = x.narrow(1, x.shape[1] - 1, 1);
        last = last.Plus(drop.call(self.call(h.narrow(1, h.shape[1] - 1, 1), h, null)));
        last = last.Plus(drop.call(cross.Attend(norm2.call(last), crossKeys, crossValues, memoryMask)));
        return last.Plus(drop.call(ff.call(norm3.call(last))));
    }
}
