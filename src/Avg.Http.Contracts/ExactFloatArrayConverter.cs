using System.Text.Json;
using System.Text.Json.Serialization;

namespace Avg.Http;

/// <summary>
/// Reads a JSON array of numbers into a <c>float[]</c> of exactly its length. The serializer's own converter grows a
/// <see cref="List{T}"/> and copies it out: for a 500-image ingest body about four arrays per feature vector, the
/// largest share of what ingest allocated (measured with an EventPipe allocation trace). The elements are read as the
/// serializer reads them: numbers by <see cref="Utf8JsonReader.GetSingle"/>, and "NaN", "Infinity" and "-Infinity"
/// where the options allow named literals (the HTTP API does, so that validation can name a non-finite feature).
/// </summary>
public sealed class ExactFloatArrayConverter : JsonConverter<float[]>
{
    public override float[] Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new JsonException();
        }

        // The serializer hands a converter its whole value, so a copy of the reader (a struct) can count ahead.
        var ahead = reader;
        var count = 0;
        while (ahead.Read() && ahead.TokenType != JsonTokenType.EndArray)
        {
            if (ahead.TokenType is JsonTokenType.StartArray or JsonTokenType.StartObject)
            {
                throw new JsonException();
            }

            count++;
        }

        var values = new float[count];
        var named = (options.NumberHandling & JsonNumberHandling.AllowNamedFloatingPointLiterals) != 0;
        for (var i = 0; i < count; i++)
        {
            reader.Read();
            values[i] = reader.TokenType switch
            {
                JsonTokenType.Number => reader.GetSingle(),
                JsonTokenType.String when named && reader.ValueTextEquals("NaN") => float.NaN,
                JsonTokenType.String when named && reader.ValueTextEquals("Infinity") => float.PositiveInfinity,
                JsonTokenType.String when named && reader.ValueTextEquals("-Infinity") => float.NegativeInfinity,
                _ => throw new JsonException(),
            };
        }

        reader.Read();
        return values;
    }

    public override void Write(Utf8JsonWriter writer, float[] value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        writer.WriteStartArray();
        foreach (var v in value)
        {
            writer.WriteNumberValue(v);
        }

        writer.WriteEndArray();
    }
}
