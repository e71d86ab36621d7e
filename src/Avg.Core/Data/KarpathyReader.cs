using System.Text.Json;
using System.Text.Json.Serialization;

namespace Avg.Data;

/// <summary>Reads Karpathy split JSON (Flickr30K, MS-COCO, Shapes world) with errors a user can act on.</summary>
public static class KarpathyReader
{
    /// <summary>Conventional file name inside a dataset folder.</summary>
    public const string DefaultFileName = "dataset.json";

    /// <summary>
    /// Loads a dataset from a folder (containing <c>dataset.json</c>, or the only <c>*.json</c>) or a JSON file.
    /// Image paths resolve against <paramref name="imageRoot"/>, else the JSON's folder.
    /// </summary>
    public static KarpathyDataset Load(string path, string? imageRoot = null)
    {
        var jsonPath = ResolveJson(path);
        var root = imageRoot ?? Path.GetDirectoryName(Path.GetFullPath(jsonPath))!;
        if (!Directory.Exists(root)) throw new DataFormatException(root, "image root folder does not exist");

        KarpathyFile? file;
        try
        {
            using var stream = File.OpenRead(jsonPath);
            file = JsonSerializer.Deserialize(stream, KarpathyJsonContext.Default.KarpathyFile);
        }
        catch (JsonException e)
        {
            var where = e.LineNumber is { } line ? $" at line {line + 1}, byte {e.BytePositionInLine + 1}" : "";
            throw new DataFormatException(jsonPath, $"malformed JSON{where}: expected a Karpathy split file ({FirstSentence(e.Message)})", e);
        }
        catch (IOException e)
        {
            throw new DataFormatException(jsonPath, $"cannot be read: {e.Message}", e);
        }

        if (file?.Images is null)
            throw new DataFormatException(jsonPath, "expected a JSON object with an \"images\" array (Karpathy split format), found none");

        var images = new List<DatasetImage>(file.Images.Count);
        var captionRow = 0;
        for (var i = 0; i < file.Images.Count; i++)
        {
            var entry = file.Images[i] ?? throw new DataFormatException(jsonPath, $"images[{i}] is null; expected an image object");
            if (string.IsNullOrWhiteSpace(entry.FileName))
                throw new DataFormatException(jsonPath, $"images[{i}] has no \"filename\"; expected the image's file name");
            var split = ParseSplit(entry.Split, jsonPath, i);
            var captions = new List<string>(entry.Sentences?.Count ?? 0);
            if (entry.Sentences is not null)
            {
                for (var s = 0; s < entry.Sentences.Count; s++)
                {
                    var raw = entry.Sentences[s]?.Raw;
                    if (raw is null)
                        throw new DataFormatException(jsonPath, $"images[{i}].sentences[{s}] has no \"raw\" text");
                    captions.Add(raw);
                }
            }
            var fileName = string.IsNullOrEmpty(entry.FilePath) ? entry.FileName : Path.Combine(entry.FilePath, entry.FileName);
            images.Add(new DatasetImage(i, entry.ImgId ?? i, fileName, split, captions, captionRow));
            captionRow += captions.Count;
        }

        var name = file.Dataset ?? new DirectoryInfo(Path.GetDirectoryName(Path.GetFullPath(jsonPath))!).Name;
        return new KarpathyDataset(Path.GetFullPath(jsonPath), Path.GetFullPath(root), name, images);
    }

    /// <summary>Checks that every image file exists (not that it decodes), naming the first missing ones.</summary>
    public static void CheckImagesExist(KarpathyDataset dataset, int maxReported = 3)
    {
        var missing = dataset.Images.Where(i => !File.Exists(dataset.ImagePath(i))).Take(maxReported + 1).ToList();
        if (missing.Count == 0) return;
        var names = string.Join(", ", missing.Take(maxReported).Select(i => i.FileName));
        var more = missing.Count > maxReported ? " and more" : "";
        throw new DataFormatException(dataset.ImageRoot, $"image files missing: {names}{more} (expected relative to the image root)");
    }

    private static string ResolveJson(string path)
    {
        if (File.Exists(path)) return path;
        if (Directory.Exists(path))
        {
            var preferred = Path.Combine(path, DefaultFileName);
            if (File.Exists(preferred)) return preferred;
            var jsons = Directory.GetFiles(path, "*.json");
            if (jsons.Length == 1) return jsons[0];
            throw new DataFormatException(path, jsons.Length == 0
                ? $"no {DefaultFileName} (or other .json) in this folder; expected a Karpathy split file"
                : $"several .json files and no {DefaultFileName}; pass the JSON file itself");
        }
        throw new DataFormatException(path, "file or folder not found; expected a dataset folder or a Karpathy split JSON file");
    }

    private static Split ParseSplit(string? split, string jsonPath, int index) => split?.ToLowerInvariant() switch
    {
        "train" or "restval" => Split.Train,
        "val" => Split.Val,
        "test" => Split.Test,
        null => throw new DataFormatException(jsonPath, $"images[{index}] has no \"split\"; expected train, val, test or restval"),
        _ => throw new DataFormatException(jsonPath, $"images[{index}] has split \"{split}\"; expected train, val, test or restval"),
    };

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(". ", StringComparison.Ordinal);
        return cut < 0 ? message.TrimEnd('.') : message[..cut];
    }
}

internal sealed class KarpathyFile
{
    [JsonPropertyName("dataset")] public string? Dataset { get; set; }
    [JsonPropertyName("images")] public List<KarpathyImage?>? Images { get; set; }
}

internal sealed class KarpathyImage
{
    [JsonPropertyName("filename")] public string? FileName { get; set; }
    [JsonPropertyName("filepath")] public string? FilePath { get; set; }
    [JsonPropertyName("imgid")] public int? ImgId { get; set; }
    [JsonPropertyName("split")] public string? Split { get; set; }
    [JsonPropertyName("sentences")] public List<KarpathySentence?>? Sentences { get; set; }
}

internal sealed class KarpathySentence
{
    [JsonPropertyName("raw")] public string? Raw { get; set; }
}

[JsonSourceGenerationOptions(AllowTrailingCommas = false, ReadCommentHandling = JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(KarpathyFile))]
internal sealed partial class KarpathyJsonContext : JsonSerializerContext;
