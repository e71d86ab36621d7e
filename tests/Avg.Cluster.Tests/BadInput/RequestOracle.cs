using System.Text;
using System.Text.Json;

namespace Avg.Cluster.Tests.BadInput;

public enum Verdict
{
    Valid,
    Invalid,

    /// <summary>Valid or not depending on details the oracle does not model (numbers in strings, duplicate keys, image bytes).</summary>
    Unknown,
}

/// <summary>
/// An account of docs/http-api.md written apart from the silo's validation, to judge fuzzed bodies: would a correct
/// server accept this search or ingest request?
/// </summary>
public static class RequestOracle
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static Verdict Search(byte[] body, string servedVersion) => Judged(() => SearchCore(body, servedVersion));

    public static Verdict Ingest(byte[] body, string servedVersion, int featureWidth) => Judged(() => IngestCore(body, servedVersion, featureWidth));

    private static Verdict Judged(Func<Verdict> judge)
    {
        try
        {
            return judge();
        }
        catch (InvalidBodyException)
        {
            return Verdict.Invalid;
        }
    }

    private static Verdict SearchCore(byte[] body, string servedVersion)
    {
        if (Parse(body) is not { } root)
        {
            return Verdict.Invalid;
        }

        using (root)
        {
            if (Properties(root.RootElement) is not { } p)
            {
                return root.RootElement.ValueKind == JsonValueKind.Object ? Verdict.Unknown : Verdict.Invalid;
            }

            return Worst(
                Text(p.GetValueOrDefault("query"), required: true, text => text.Trim().Length is >= 1 and <= 1000),
                Int(p.GetValueOrDefault("k"), 1, 100),
                Int(p.GetValueOrDefault("beam"), 1, 100),
                Widths(p.GetValueOrDefault("levelBeams")),
                Text(p.GetValueOrDefault("indexVersion"), required: false, v => v == servedVersion));
        }
    }

    private static Verdict IngestCore(byte[] body, string servedVersion, int featureWidth)
    {
        if (Parse(body) is not { } root)
        {
            return Verdict.Invalid;
        }

        using (root)
        {
            if (Properties(root.RootElement) is not { } p)
            {
                return root.RootElement.ValueKind == JsonValueKind.Object ? Verdict.Unknown : Verdict.Invalid;
            }

            var version = Text(p.GetValueOrDefault("indexVersion"), required: false, v => v == servedVersion);
            if (p.GetValueOrDefault("images") is not { ValueKind: JsonValueKind.Array } images || images.GetArrayLength() is 0 or > 1000)
            {
                return Verdict.Invalid;
            }

            var ids = new HashSet<string>(StringComparer.Ordinal);
            var verdict = version;
            foreach (var image in images.EnumerateArray())
            {
                if (Properties(image) is not { } f)
                {
                    return image.ValueKind == JsonValueKind.Object ? Verdict.Unknown : Verdict.Invalid;
                }

                var id = f.GetValueOrDefault("id");
                var features = f.GetValueOrDefault("features");
                var picture = f.GetValueOrDefault("imageBase64");
                var hasFeatures = features.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null);
                var hasPicture = picture.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null);
                verdict = Worst(
                    verdict,
                    Text(id, required: true, i => i.Length is >= 1 and <= 256 && !i.Contains('/', StringComparison.Ordinal) && !i.Any(char.IsControl) && ids.Add(i)),
                    Text(f.GetValueOrDefault("uri"), required: false, u => u.Length <= 2048),
                    hasFeatures == hasPicture ? Verdict.Invalid : Verdict.Valid,
                    hasPicture ? (picture.ValueKind == JsonValueKind.String ? Verdict.Unknown : Verdict.Invalid) : Verdict.Valid,
                    hasFeatures ? Floats(features, featureWidth) : Verdict.Valid);
            }

            return verdict;
        }
    }

    private static JsonDocument? Parse(byte[] body)
    {
        try
        {
            _ = StrictUtf8.GetString(body);
            return JsonDocument.Parse(body);
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>Properties by lower-case name (the API binds names case-insensitively); null when not an object or a name repeats.</summary>
    private static Dictionary<string, JsonElement>? Properties(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var properties = new Dictionary<string, JsonElement>(StringComparer.OrdinalIgnoreCase);
        foreach (var property in element.EnumerateObject())
        {
            string name;
            try
            {
                name = property.Name;
            }
            catch (InvalidOperationException)
            {
                // An escaped unpaired surrogate in a name (\ud800) is not text: the body is invalid.
                throw new InvalidBodyException();
            }

            if (!properties.TryAdd(name, property.Value))
            {
                return null;
            }
        }

        return properties;
    }

    private static Verdict Text(JsonElement value, bool required, Func<string, bool> valid)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Undefined or JsonValueKind.Null:
                return required ? Verdict.Invalid : Verdict.Valid;
            case JsonValueKind.String:
                try
                {
                    return valid(value.GetString()!) ? Verdict.Valid : Verdict.Invalid;
                }
                catch (InvalidOperationException)
                {
                    return Verdict.Invalid; // not valid UTF-16 (an escaped unpaired surrogate)
                }

            default:
                return Verdict.Invalid;
        }
    }

    private static Verdict Int(JsonElement value, int min, int max) => value.ValueKind switch
    {
        JsonValueKind.Undefined or JsonValueKind.Null => Verdict.Valid,
        JsonValueKind.Number => value.TryGetInt32(out var n) && n >= min && n <= max ? Verdict.Valid : Verdict.Invalid,
        JsonValueKind.String => Verdict.Unknown,
        _ => Verdict.Invalid,
    };

    private static Verdict Widths(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Undefined or JsonValueKind.Null => Verdict.Valid,
        JsonValueKind.Array => Worst([.. value.EnumerateArray().Select(w => w.ValueKind == JsonValueKind.Null ? Verdict.Invalid : Int(w, 1, 100)), value.GetArrayLength() == 3 ? Verdict.Valid : Verdict.Invalid]),
        _ => Verdict.Invalid,
    };

    private static Verdict Floats(JsonElement value, int width) => value.ValueKind switch
    {
        JsonValueKind.Array => Worst([
            .. value.EnumerateArray().Select(f => f.ValueKind switch
            {
                JsonValueKind.Number => f.TryGetSingle(out var x) && float.IsFinite(x) ? Verdict.Valid : Verdict.Invalid,
                JsonValueKind.String => Verdict.Unknown,
                _ => Verdict.Invalid,
            }),
            value.GetArrayLength() == width ? Verdict.Valid : Verdict.Invalid]),
        _ => Verdict.Invalid,
    };

    /// <summary>Invalid if any part is; else unknown if any part is; else valid.</summary>
    private static Verdict Worst(params Verdict[] verdicts) =>
        verdicts.Contains(Verdict.Invalid) ? Verdict.Invalid : verdicts.Contains(Verdict.Unknown) ? Verdict.Unknown : Verdict.Valid;

    /// <summary>The body holds something that is not JSON text although it parsed (an escaped unpaired surrogate in a name).</summary>
    private sealed class InvalidBodyException : Exception;
}
