using System.Text.Json;
using System.Text.Json.Serialization;

namespace Avg.Http;

/// <summary>
/// A <see cref="double"/> on the wire at single precision: written as the nearest <see cref="float"/> in its shortest
/// form, read as any JSON number. For values the server computed in single precision (search scores come from the
/// model's float32 outputs), so that a score is written <c>-1.73</c>, not the <c>-1.7300000190734863</c> its widening to
/// <see cref="double"/> would print; the reader gets the double nearest that decimal.
/// </summary>
public sealed class SinglePrecisionConverter : JsonConverter<double>
{
    public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.GetDouble();

    public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteNumberValue((float)value);
    }
}
