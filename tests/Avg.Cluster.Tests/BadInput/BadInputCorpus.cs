using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Avg.Cluster.Tests.BadInput;

/// <summary>
/// The bad-input corpus of <c>BadInput/cases.json</c>: requests every endpoint must refuse with a 4xx problem naming
/// the field or reason. Bodies are text (<c>body</c>) or bytes (<c>bodyBase64</c>); text and paths may hold
/// placeholders, expanded here so the file stays small: <c>{{repeat:N:text}}</c>, <c>{{features:N}}</c> (N numbers),
/// <c>{{png}}</c> (a real image's base64), <c>{{pngPrefix:N}}</c> (its first N bytes),
/// <c>{{pngClaiming:W:H}}</c> (that PNG with its header claiming W×H pixels) and <c>{{knownId}}</c> (an indexed id).
/// A case with <c>rejectedBy: "kestrel"</c> is refused by the web server before any application code runs (a NUL in the
/// path): only its status is checked, as Kestrel answers those without a body.
/// </summary>
public sealed record BadInputCase(
    string Name,
    string Method,
    string Path,
    int Status,
    string? ContentType = null,
    string? Body = null,
    string? BodyBase64 = null,
    Dictionary<string, string>? Headers = null,
    bool OmitKey = false,
    string? Field = null,
    string? Reason = null,
    string? RejectedBy = null)
{
    public override string ToString() => Name;
}

public sealed record BadInputCorpus(IReadOnlyList<string> AbsentIds, IReadOnlyList<BadInputCase> Cases)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static BadInputCorpus Load()
    {
        var path = System.IO.Path.Combine(AppContext.BaseDirectory, "BadInput", "cases.json");
        return JsonSerializer.Deserialize<BadInputCorpus>(File.ReadAllText(path), Json)!;
    }
}

/// <summary>Turns a <see cref="BadInputCase"/> into the HTTP request it describes.</summary>
public sealed class BadInputRequests(byte[] png, string knownId, string apiKey)
{
    public HttpRequestMessage Build(BadInputCase c)
    {
        ArgumentNullException.ThrowIfNull(c);
        var request = new HttpRequestMessage(new HttpMethod(c.Method), new Uri(Expand(c.Path), UriKind.Relative));
        byte[]? body = c.BodyBase64 is { } b64 ? Convert.FromBase64String(b64) : c.Body is { } text ? Encoding.UTF8.GetBytes(Expand(text)) : null;
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);

            // As a client sending megabytes should: the silo can refuse the body before it is sent.
            request.Headers.ExpectContinue = body.Length > 1 << 20;
        }

        if (c.ContentType is { } type)
        {
            request.Content ??= new ByteArrayContent([]);
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(type);
        }

        if (!c.OmitKey)
        {
            request.Headers.Add("X-Api-Key", apiKey);
        }

        foreach (var (name, value) in c.Headers ?? [])
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return request;
    }

    /// <summary>Expands the placeholders of <paramref name="text"/>; a <c>repeat</c> text ends at the first <c>}}</c> outside its own braces.</summary>
    public string Expand(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var output = new StringBuilder(text.Length);
        var i = 0;
        while (i < text.Length)
        {
            var open = text.IndexOf("{{", i, StringComparison.Ordinal);
            if (open < 0)
            {
                output.Append(text, i, text.Length - i);
                break;
            }

            output.Append(text, i, open - i);
            var (name, arguments, end) = Placeholder(text, open + 2);
            output.Append(Value(name, arguments));
            i = end;
        }

        return output.ToString();
    }

    private static (string Name, string[] Arguments, int End) Placeholder(string text, int start)
    {
        var colon = text.IndexOf(':', start);
        var close = text.IndexOf("}}", start, StringComparison.Ordinal);
        if (colon < 0 || colon > close)
        {
            return (text[start..close], [], close + 2);
        }

        var name = text[start..colon];
        if (name != "repeat")
        {
            return (name, text[(colon + 1)..close].Split(':'), close + 2);
        }

        var countEnd = text.IndexOf(':', colon + 1);
        var depth = 0;
        var j = countEnd + 1;
        while (!(depth == 0 && string.CompareOrdinal(text, j, "}}", 0, 2) == 0))
        {
            depth += text[j] == '{' ? 1 : text[j] == '}' ? -1 : 0;
            j++;
        }

        return (name, [text[(colon + 1)..countEnd], text[(countEnd + 1)..j]], j + 2);
    }

    private string Value(string name, string[] arguments) => name switch
    {
        "repeat" => new StringBuilder().Insert(0, arguments[1], Number(arguments[0])).ToString(),
        "features" => string.Join(',', Enumerable.Range(0, Number(arguments[0])).Select(j => (0.1 + (j % 7 * 0.01)).ToString(CultureInfo.InvariantCulture))),
        "png" => Convert.ToBase64String(png),
        "pngPrefix" => Convert.ToBase64String(png.AsSpan(0, Number(arguments[0]))),
        "pngClaiming" => Convert.ToBase64String(PngClaiming(png, Number(arguments[0]), Number(arguments[1]))),
        "knownId" => knownId,
        _ => throw new InvalidOperationException($"Unknown placeholder {{{{{name}}}}} in BadInput/cases.json."),
    };

    private static int Number(string text) => int.Parse(text, CultureInfo.InvariantCulture);

    /// <summary>The PNG with its IHDR width and height replaced (CRC kept valid), so the pixel data no longer fits the header.</summary>
    private static byte[] PngClaiming(byte[] png, int width, int height)
    {
        var copy = (byte[])png.Clone();
        const int ihdr = 8 + 4; // signature, chunk length
        BinaryPrimitives.WriteInt32BigEndian(copy.AsSpan(ihdr + 4), width);
        BinaryPrimitives.WriteInt32BigEndian(copy.AsSpan(ihdr + 8), height);
        BinaryPrimitives.WriteUInt32BigEndian(copy.AsSpan(ihdr + 4 + 13), Crc32.HashToUInt32(copy.AsSpan(ihdr, 4 + 13)));
        return copy;
    }
}
