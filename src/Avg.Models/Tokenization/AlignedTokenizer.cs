using System.Text.Json;
using Avg.Models.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Avg.Models.Tokenization;

/// <summary>One batch through the tokenizer, with what the loss needs.</summary>
/// <param name="Latent">z: the encoder's output, B×d.</param>
/// <param name="PartialSums">ẑ^(1..M), each B×d; gradients reach the codebook through these.</param>
/// <param name="Vokens">B×M code indices.</param>
/// <param name="Reconstruction">v̂ = Decoder(ẑ^(M)) with straight-through gradients into z and the codebook.</param>
/// <param name="Residuals">r_1..r_M (detached), each B×d; used to re-seed dead codes.</param>
public sealed record QuantizedBatch(Tensor Latent, IReadOnlyList<Tensor> PartialSums, Tensor Vokens, Tensor Reconstruction, IReadOnlyList<Tensor> Residuals);

/// <summary>
/// The cross-modal aligned image tokenizer of paper §3.1: an MLP encoder z = E(v_i), residual quantisation
/// of z with one shared codebook C over M steps (eq. 2), and an MLP decoder v̂ = D(ẑ^(M)) (eq. 3).
/// Turns each image vector into M vokens; C seeds the generator's voken embeddings.
/// </summary>
public sealed class AlignedTokenizer : nn.Module<Tensor, QuantizedBatch>
{
    private const int DefaultInferenceBatch = 1024;

    private readonly Sequential encoder;
    private readonly Parameter codebook;
    private readonly Sequential decoder;

    /// <summary>Creates a tokenizer with a random codebook; <paramref name="seed"/> seeds torch's global generator first.</summary>
    public AlignedTokenizer(AlignedTokenizerOptions options, Device? device = null, int seed = 7) : base(nameof(AlignedTokenizer))
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        torch.manual_seed(seed);
        encoder = ResidualMlp(options.InputDim, options.HiddenDim);
        codebook = nn.Parameter(torch.randn(options.CodebookSize, options.InputDim).DividedBy(Math.Sqrt(options.InputDim)));
        decoder = ResidualMlp(options.InputDim, options.HiddenDim);
        RegisterComponents();
        Device = device ?? torch.CPU;
        this.to(Device);
    }

    public AlignedTokenizerOptions Options { get; }

    public Device Device { get; }

    /// <summary>The codebook C (N×d, flat), to copy into the generator's voken embeddings.</summary>
    public float[] Codebook
    {
        get
        {
            using var scope = torch.NewDisposeScope();
            return codebook.detach().to(torch.CPU).contiguous().data<float>().ToArray();
        }
    }

    /// <summary>The codebook parameter itself, for initialisation and re-seeding.</summary>
    internal Parameter CodebookParameter => codebook;

    public override QuantizedBatch forward(Tensor vectors)
    {
        var z = Latent(vectors);
        var (partials, vokens, residuals) = Quantize(z);
        // Straight-through both ways (docs/design.md §1.2 "The aligned image tokenizer"): the forward value is
        // ẑ^(M); recon and align gradients reach the codebook through ẑ and the encoder through z, as if
        // quantisation were the identity.
        var straightThrough = partials[^1].Plus(z - z.detach());
        return new QuantizedBatch(z, partials, vokens, Reconstruct(straightThrough), residuals);
    }

    /// <summary>z = v + MLP(v); the last layer starts at zero so z starts equal to v.</summary>
    public Tensor Latent(Tensor vectors) => vectors.Plus(encoder.call(vectors));

    /// <summary>v̂ = ẑ + MLP(ẑ) (paper eq. 3); starts as the identity.</summary>
    public Tensor Reconstruct(Tensor quantized) => quantized.Plus(decoder.call(quantized));

    /// <summary>Paper eq. 2: r_1 = z, voken_j = argmin_c ||r_j − c||, r_{j+1} = r_j − C[voken_j]; returns ẑ^(1..M), vokens (B×M) and r_1..r_M.</summary>
    public (IReadOnlyList<Tensor> PartialSums, Tensor Vokens, IReadOnlyList<Tensor> Residuals) Quantize(Tensor z)
    {
        ArgumentNullException.ThrowIfNull(z);
        var residual = z.detach();
        var partial = torch.zeros_like(z);
        var partials = new List<Tensor>(Options.Levels);
        var residuals = new List<Tensor>(Options.Levels);
        var codes = new List<Tensor>(Options.Levels);
        for (var level = 0; level < Options.Levels; level++)
        {
            residuals.Add(residual);
            Tensor index;
            using (torch.no_grad()) index = KMeans.Nearest(residual, codebook);
            var chosen = codebook.index_select(0, index);
            partial = partial.Plus(chosen);
            partials.Add(partial);
            codes.Add(index);
            residual = residual - chosen.detach();
        }
        return (partials, torch.stack(codes, 1), residuals);
    }

    /// <summary>CodebookSize of each vector (rows of d floats, flat) as rows of M codes, flat; deterministic.</summary>
    public int[] Encode(float[] vectors, int batchSize = DefaultInferenceBatch)
    {
        var count = RowCount(vectors);
        var result = new int[count * Options.Levels];
        Infer(count, batchSize, (start, rows) =>
        {
            var z = Latent(Rows(vectors, start, rows));
            var vokens = Quantize(z).Vokens.to_type(ScalarType.Int32).to(torch.CPU).contiguous();
            vokens.data<int>().CopyTo(result.AsSpan(start * Options.Levels, rows * Options.Levels));
        });
        return result;
    }

    /// <summary>
    /// CodebookSize with balanced assignment of the last one (<see cref="Avg.Quantization.CollisionBalancer"/>): images that
    /// would share a whole sequence move, in turn, to the nearest last-level code still free under their prefix,
    /// among the <paramref name="candidates"/> nearest. Deterministic for a given set and order of vectors.
    /// </summary>
    public int[] EncodeBalanced(float[] vectors, int candidates = 8, int batchSize = DefaultInferenceBatch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(candidates, 1);
        var k = Math.Min(candidates, Options.CodebookSize);
        var count = RowCount(vectors);
        var vokens = new int[count * Options.Levels];
        var nearest = new int[count * k];
        var distances = new float[count * k];
        Infer(count, batchSize, (start, rows) =>
        {
            var z = Latent(Rows(vectors, start, rows));
            var (_, codes, residuals) = Quantize(z);
            codes.to_type(ScalarType.Int32).to(torch.CPU).contiguous().data<int>().CopyTo(vokens.AsSpan(start * Options.Levels, rows * Options.Levels));
            var lastResidual = residuals[^1];
            var squared = (lastResidual.unsqueeze(1) - codebook.unsqueeze(0)).Pow(2).sum(2);
            var (values, indices) = squared.topk(k, dim: 1, largest: false, sorted: true);
            values.to(torch.CPU).contiguous().data<float>().CopyTo(distances.AsSpan(start * k, rows * k));
            indices.to_type(ScalarType.Int32).to(torch.CPU).contiguous().data<int>().CopyTo(nearest.AsSpan(start * k, rows * k));
        });
        // Ties in distance can order the nearest code differently from argmin; the quantiser's choice leads.
        for (var r = 0; r < count; r++)
        {
            var own = vokens[(r * Options.Levels) + Options.Levels - 1];
            var at = Array.IndexOf(nearest, own, r * k, k);
            if (at == r * k) continue;
            var from = at < 0 ? (r * k) + k - 1 : at;
            var ownDistance = at < 0 ? distances[r * k] : distances[at];
            for (var i = from; i > r * k; i--)
            {
                nearest[i] = nearest[i - 1];
                distances[i] = distances[i - 1];
            }
            nearest[r * k] = own;
            distances[r * k] = ownDistance;
        }
        return Avg.Quantization.CollisionBalancer.Assign(vokens, Options.Levels, nearest, distances, k);
    }

    /// <summary>v̂ for each row of M vokens (flat): decoder of the sum of the codes.</summary>
    public float[] Decode(int[] vokens, int batchSize = DefaultInferenceBatch)
    {
        ArgumentNullException.ThrowIfNull(vokens);
        if (vokens.Length % Options.Levels != 0) throw new ArgumentException($"vokens has {vokens.Length} entries, not a multiple of M = {Options.Levels}.", nameof(vokens));
        var count = vokens.Length / Options.Levels;
        var result = new float[count * Options.InputDim];
        Infer(count, batchSize, (start, rows) =>
        {
            var index = torch.tensor(vokens.AsSpan(start * Options.Levels, rows * Options.Levels).ToArray().Select(v => (long)v).ToArray(), device: Device);
            var quantized = codebook.index_select(0, index).view(rows, Options.Levels, Options.InputDim).sum(1);
            Reconstruct(quantized).to(torch.CPU).contiguous().data<float>().CopyTo(result.AsSpan(start * Options.InputDim, rows * Options.InputDim));
        });
        return result;
    }

    /// <summary>Writes the weights to <paramref name="path"/> and the options beside them (path + ".json").</summary>
    public void Save(string path)
    {
        ModelFiles.Save(this, Options, path);
    }

    public static AlignedTokenizer Load(string path, Device? device = null)
    {
        var options = ModelFiles.ReadOptions<AlignedTokenizerOptions>(path, "tokenizer", "train the tokenizer first.");
        var tokenizer = new AlignedTokenizer(options, device);
        tokenizer.load(path);
        return tokenizer;
    }

    internal int RowCount(float[] vectors)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        if (vectors.Length % Options.InputDim != 0)
            throw new ArgumentException($"vectors has {vectors.Length} floats, not a multiple of d = {Options.InputDim}.", nameof(vectors));
        return vectors.Length / Options.InputDim;
    }

    /// <summary>
    /// Rows [<paramref name="start"/>, <paramref name="start"/> + <paramref name="rows"/>) of <paramref name="vectors"/> as a
    /// tensor, handed to TorchSharp as a slice of the array's memory rather than copied into an array of their own first
    /// (that copy was a tenth of a silo's allocations during ingest; this halves it). The tensor lives only in its
    /// batch's dispose scope, and the array is not changed.
    /// </summary>
    private Tensor Rows(float[] vectors, int start, int rows) =>
        torch.tensor(vectors.AsMemory(start * Options.InputDim, rows * Options.InputDim), [rows, Options.InputDim], device: Device);

    private void Infer(int count, int batchSize, Action<int, int> run) => Inference.InBatches(this, count, batchSize, run);

    private static Sequential ResidualMlp(int dim, int hidden)
    {
        var last = nn.Linear(hidden, dim);
        using (torch.no_grad())
        {
            last.weight!.zero_();
            last.bias!.zero_();
        }
        return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), last);
    }
}
