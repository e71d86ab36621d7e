using System.Text.Json;
using System.Text.Json.Serialization;
using Avg.Http;
using Avg.Tests.Support;
using FsCheck;
using FsCheck.Xunit;

namespace Avg.Cluster.Tests;

/// <summary>The ingest body's feature arrays read by <see cref="ExactFloatArrayConverter"/> exactly as the serializer's own converter reads them.</summary>
[Trait(TestCategory.Name, TestCategory.Unit)]
public class ExactFloatArrayConverterTests
{
    private static readonly JsonSerializerOptions Named = new(JsonSerializerDefaults.Web) { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
    private static readonly JsonSerializerOptions Strict = new(JsonSerializerDefaults.Web);

    [Property(MaxTest = 300)]
    public void Reads_every_array_as_the_serializer_does(float[] values, bool named)
    {
        var options = named ? Named : Strict;
        var finite = named ? values : values.Select(v => float.IsFinite(v) ? v : 0).ToArray();
        var json = JsonSerializer.Serialize(new Holder(finite), Named);
        Read(json, options).ShouldBe(JsonSerializer.Deserialize<Holder>(json, options)!.Features);
    }

    [Theory]
    [InlineData("""{"features":[1,2.5,-3e-7,1e30]}""")]
    [InlineData("""{"features":[]}""")]
    [InlineData("""{"features":null}""")]
    [InlineData("""{"features":["NaN","Infinity","-Infinity",0]}""")]
    [InlineData("""{"features":[1e39,-1e39]}""")]
    public void Reads_valid_arrays_and_null_as_the_serializer_does(string json) =>
        Read(json, Named).ShouldBe(JsonSerializer.Deserialize<Holder>(json, Named)!.Features);

    [Theory]
    [InlineData("""{"features":[1,"a"]}""")]
    [InlineData("""{"features":[1,[2]]}""")]
    [InlineData("""{"features":[1,{"x":2}]}""")]
    [InlineData("""{"features":[true]}""")]
    [InlineData("""{"features":[null]}""")]
    [InlineData("""{"features":"1,2"}""")]
    [InlineData("""{"features":7}""")]
    [InlineData("""{"features":["nan"]}""")]
    public void Refuses_what_the_serializer_refuses(string json)
    {
        Should.Throw<JsonException>(() => JsonSerializer.Deserialize<Holder>(json, Named));
        var e = Should.Throw<JsonException>(() => Read(json, Named));
        e.Path.ShouldNotBeNull().ShouldStartWith("$.features");
    }

    [Fact]
    public void Named_literals_are_refused_where_the_options_do_not_allow_them() =>
        Should.Throw<JsonException>(() => Read("""{"features":["NaN"]}""", Strict));

    private static float[]? Read(string json, JsonSerializerOptions options) => JsonSerializer.Deserialize<ExactHolder>(json, options)!.Features;

    private sealed record Holder(float[]? Features);

    private sealed record ExactHolder([property: JsonConverter(typeof(ExactFloatArrayConverter))] float[]? Features);
}
