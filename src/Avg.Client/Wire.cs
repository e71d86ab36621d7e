using System.Text.Json;
using System.Text.Json.Serialization;

namespace Avg.Client;

/// <summary>Body of <c>POST /v1/search</c>.</summary>
internal sealed record SearchRequest(
    string Query,
    int K,
    int Beam,
    string? IndexVersion,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<int>? LevelBeams);

/// <summary>Body of <c>POST /v1/images</c>.</summary>
internal sealed record IngestRequest(IReadOnlyList<IngestImage> Images, string? IndexVersion);

/// <summary>One image on the wire; <c>byte[]</c> serialises as the base64 string the contract asks for.</summary>
internal sealed record IngestImage(
    string Id,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] byte[]? ImageBase64,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] float[]? Features,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Uri);

/// <summary>An RFC 9457 problem as the silo writes it.</summary>
internal sealed record ProblemDetails(string? Type, string? Title, int? Status, string? Detail, Dictionary<string, string[]>? Errors);

/// <summary>Source-generated (trim- and AOT-safe) JSON for every wire type; camelCase as the contract says.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(SearchRequest))]
[JsonSerializable(typeof(IngestRequest))]
[JsonSerializable(typeof(ProblemDetails))]
[JsonSerializable(typeof(SearchResults))]
[JsonSerializable(typeof(IndexImagesResult))]
[JsonSerializable(typeof(IndexedImage))]
[JsonSerializable(typeof(IndexStats))]
internal sealed partial class AvgJsonContext : JsonSerializerContext;
