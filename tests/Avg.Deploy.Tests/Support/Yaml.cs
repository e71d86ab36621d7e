using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Avg.Deploy.Tests.Support;

/// <summary>
/// YAML as Helm and Kubernetes read it: documents as JSON trees, plain scalars typed (null, bool, int, float, string),
/// quoted scalars always strings, merge keys (<c>&lt;&lt;</c>) applied.
/// </summary>
public static partial class Yaml
{
    public static IReadOnlyList<JsonNode?> LoadAll(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return [.. stream.Documents.Select(d => ToJson(d.RootNode))];
    }

    public static JsonNode? Load(string text)
    {
        var documents = LoadAll(text);
        documents.Count.ShouldBe(1, "expected one YAML document");
        return documents[0];
    }

    public static JsonNode? LoadFile(string path) => Load(File.ReadAllText(path));

    /// <summary>Helm's <c>-f</c> merge: maps merge key by key, anything else in the overlay replaces the base.</summary>
    public static JsonNode? Merge(JsonNode? baseNode, JsonNode? overlay)
    {
        if (baseNode is JsonObject baseObject && overlay is JsonObject overlayObject)
        {
            var merged = (JsonObject)baseObject.DeepClone();
            foreach (var (key, value) in overlayObject)
            {
                merged[key] = Merge(merged[key], value?.DeepClone());
            }

            return merged;
        }

        return overlay?.DeepClone();
    }

    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlScalarNode scalar => Scalar(scalar),
        YamlSequenceNode sequence => new JsonArray([.. sequence.Children.Select(ToJson)]),
        YamlMappingNode mapping => Mapping(mapping),
        _ => throw new InvalidOperationException($"unsupported YAML node {node.NodeType} at {node.Start}"),
    };

    private static JsonObject Mapping(YamlMappingNode mapping)
    {
        var result = new JsonObject();
        foreach (var (key, value) in mapping.Children)
        {
            var name = ((YamlScalarNode)key).Value ?? "";
            if (name == "<<" && value is YamlMappingNode merged)
            {
                foreach (var (mergedKey, mergedValue) in Mapping(merged))
                {
                    if (!result.ContainsKey(mergedKey))
                    {
                        result[mergedKey] = mergedValue?.DeepClone();
                    }
                }

                continue;
            }

            result[name] = ToJson(value);
        }

        return result;
    }

    private static JsonValue? Scalar(YamlScalarNode scalar)
    {
        var text = scalar.Value ?? "";
        if (scalar.Style is not ScalarStyle.Plain)
        {
            return JsonValue.Create(text);
        }

        if (text is "" or "~" or "null" or "Null" or "NULL")
        {
            return null;
        }

        if (text is "true" or "True" or "TRUE" or "false" or "False" or "FALSE")
        {
            return JsonValue.Create(text.Equals("true", StringComparison.OrdinalIgnoreCase));
        }

        if (IntegerPattern().IsMatch(text))
        {
            return JsonValue.Create(long.Parse(text, CultureInfo.InvariantCulture));
        }

        if (FloatPattern().IsMatch(text))
        {
            return JsonValue.Create(double.Parse(text, CultureInfo.InvariantCulture));
        }

        return JsonValue.Create(text);
    }

    [GeneratedRegex(@"^[-+]?[0-9]+$")]
    private static partial Regex IntegerPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatPattern();
}
