using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Avg.Http;

namespace Avg.Client;

/// <summary>An RFC 9457 problem as the silo writes it.</summary>
internal sealed record ProblemDetails(string? Type, string? Title, int? Status, string? Detail, Dictionary<string, string[]>? Errors);

/// <summary>
/// Source-generated (trim- and AOT-safe) JSON for every body the client sends or reads; the bodies themselves are the
/// shared contract (<c>Avg.Http.Contracts</c>), camelCase as it says.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(SearchRequestBody))]
[JsonSerializable(typeof(IngestRequestBody))]
[JsonSerializable(typeof(ProblemDetails))]
[JsonSerializable(typeof(SearchResults))]
[JsonSerializable(typeof(IndexImagesResult))]
[JsonSerializable(typeof(ImageBody))]
[JsonSerializable(typeof(IndexStats))]
internal sealed partial class AvgJsonContext : JsonSerializerContext
{
    /// <summary>
    /// The context the client uses. Its strings are escaped only where JSON needs it: the default escaper also writes
    /// every <c>+</c> of a base64 image as <c>\u002B</c>, six bytes for one, which the server then has to unescape.
    /// </summary>
    public static AvgJsonContext Wire { get; } = new(new JsonSerializerOptions(JsonSerializerDefaults.Web) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
}
