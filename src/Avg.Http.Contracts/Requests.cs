using System.Text.Json.Serialization;

namespace Avg.Http;

// The request bodies of docs/http-api.md, camelCase on the wire: what the silo host reads and the client SDK writes.
// Every field may be absent or null, so that the silo reads any body and names each bad field in a validation problem
// instead of failing the parse. The SDK leaves out what it does not set (JsonIgnore only changes writing).

/// <summary>POST /v1/search body.</summary>
/// <param name="LevelBeams">One beam width per voken level in place of <paramref name="Beam"/>; left out when not set.</param>
public sealed record SearchRequestBody(
    string? Query,
    int? K,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Beam,
    string? IndexVersion,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int[]? LevelBeams = null);

/// <summary>POST /v1/images body.</summary>
public sealed record IngestRequestBody(IReadOnlyList<IngestImageBody?>? Images, string? IndexVersion);

/// <summary>One image of an ingest batch: exactly one of <paramref name="ImageBase64"/> and <paramref name="Features"/>.</summary>
/// <param name="ImageBase64">PNG or JPEG bytes, base64.</param>
/// <param name="Features">
/// A feature vector, read into an array of exactly its length (<see cref="ExactFloatArrayConverter"/>: the largest
/// allocation of ingest otherwise).
/// </param>
public sealed record IngestImageBody(
    string? Id,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ImageBase64,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull), JsonConverter(typeof(ExactFloatArrayConverter))] float[]? Features,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Uri);
