using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace Avg.Models.Text;

/// <summary>
/// Turns captions and queries into fixed-length id rows for the text models: lowercased text is split by the
/// cl100k_base BPE tokenizer, and its ids are remapped to a compact vocabulary of the ids seen in training,
/// so the embedding table holds only tokens the models can learn.
/// </summary>
public sealed class TextVocabulary
{
    /// <summary>Id of the padding token that fills a row after the caption ends.</summary>
    public const int PadId = 0;

    /// <summary>Id of every base token not in the vocabulary.</summary>
    public const int UnkId = 1;

    private const int ReservedIds = 2;
    private const string EncodingName = "cl100k_base";
    private const int FormatVersion = 1;

    private static readonly Lazy<Tokenizer> Bpe = new(() => TiktokenTokenizer.CreateForEncoding(EncodingName));

    private readonly int[] baseIds;
    private readonly Dictionary<int, int> compactOf;

    private TextVocabulary(int[] baseIds, int maxLength)
    {
        this.baseIds = baseIds;
        MaxLength = maxLength;
        compactOf = new Dictionary<int, int>(baseIds.Length);
        for (var i = 0; i < baseIds.Length; i++) compactOf[baseIds[i]] = i + ReservedIds;
        Hash = ComputeHash(baseIds, maxLength);
    }

    /// <summary>Ids run from 0 to Size − 1: the embedding table size for a text model.</summary>
    public int Size => baseIds.Length + ReservedIds;

    /// <summary>Levels of every encoded row.</summary>
    public int MaxLength { get; }

    /// <summary>Short hex digest of the mapping and length: models trained with one vocabulary record it to refuse another.</summary>
    public string Hash { get; }

    /// <summary>Builds the vocabulary from training captions: base tokens seen at least MinCount times, most frequent first.</summary>
    public static TextVocabulary Build(IEnumerable<string> captions, TextVocabularyOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(captions);
        options ??= new TextVocabularyOptions();
        options.Validate();
        var counts = new Dictionary<int, int>();
        foreach (var caption in captions)
        {
            foreach (var id in BaseIds(caption))
                counts[id] = counts.GetValueOrDefault(id) + 1;
        }
        var kept = counts.Where(p => p.Value >= options.MinCount)
            .OrderByDescending(p => p.Value).ThenBy(p => p.Key)
            .Select(p => p.Key).ToArray();
        return new TextVocabulary(kept, options.MaxLength);
    }

    /// <summary>One row of <see cref="MaxLength"/> ids for a caption or query.</summary>
    public int[] Encode(string text)
    {
        var row = new int[MaxLength];
        EncodeInto(text, row);
        return row;
    }

    /// <summary>Rows for many texts, flat (texts × MaxLength), the layout the text encoder takes.</summary>
    public int[] EncodeMany(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var rows = new int[texts.Count * MaxLength];
        for (var i = 0; i < texts.Count; i++) EncodeInto(texts[i], rows.AsSpan(i * MaxLength, MaxLength));
        return rows;
    }

    /// <summary>The ids of a text before padding, for inspection and the generator's own length handling.</summary>
    public int[] Tokens(string text) => BaseIds(text).Select(id => compactOf.GetValueOrDefault(id, UnkId)).ToArray();

    public void Save(string path)
    {
        var file = new VocabularyFile(FormatVersion, EncodingName, MaxLength, baseIds, Hash);
        File.WriteAllText(path, JsonSerializer.Serialize(file, JsonOptions));
    }

    public static TextVocabulary Load(string path)
    {
        VocabularyFile? file;
        try
        {
            file = JsonSerializer.Deserialize<VocabularyFile>(File.ReadAllText(path), JsonOptions);
        }
        catch (JsonException e)
        {
            throw new DataFormatException(path, $"not a text vocabulary file ({e.Message}).", e);
        }
        if (file is null || file.Version != FormatVersion || file.Encoding != EncodingName || file.BaseIds is null)
            throw new DataFormatException(path, $"expected a version {FormatVersion} {EncodingName} text vocabulary.");
        var vocabulary = new TextVocabulary(file.BaseIds, file.MaxLength);
        if (vocabulary.Hash != file.Hash)
            throw new DataFormatException(path, $"hash {file.Hash} does not match its content ({vocabulary.Hash}); the file was edited or damaged.");
        return vocabulary;
    }

    private void EncodeInto(string text, Span<int> row)
    {
        row.Clear();
        var i = 0;
        foreach (var id in BaseIds(text))
        {
            if (i == row.Length) break;
            row[i++] = compactOf.GetValueOrDefault(id, UnkId);
        }
    }

    private static IReadOnlyList<int> BaseIds(string text) =>
        Bpe.Value.EncodeToIds((text ?? "").ToLowerInvariant());

    private static string ComputeHash(int[] ids, int maxLength)
    {
        var builder = new StringBuilder(EncodingName).Append(';').Append(maxLength.ToString(CultureInfo.InvariantCulture));
        foreach (var id in ids) builder.Append(',').Append(id.ToString(CultureInfo.InvariantCulture));
        var digest = SHA256.HashData(Encoding.UTF8.GetBytes(builder.ToString()));
        return Convert.ToHexStringLower(digest.AsSpan(0, 8));
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = false };

    private sealed record VocabularyFile(int Version, string Encoding, int MaxLength, int[] BaseIds, string Hash);
}
