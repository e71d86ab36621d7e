using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Avg.Deploy.Tests.Support;

/// <summary>One documented value: the key a <c># --</c> comment in values.yaml stands above, with its default.</summary>
public sealed record DocumentedValue(string Key, string Type, string Default, string Description);

/// <summary>
/// The chart README's values table, built the way helm-docs builds it: a <c># -- text</c> line describes the key
/// on the next line, and that key's whole value (a subtree for maps) is its default.
/// </summary>
public static partial class ValuesDocumentation
{
    public const string Start = "<!-- values:start (generated from values.yaml by tests/Avg.Deploy.Tests; AVG_UPDATE_CHART_README=1 rewrites it) -->";
    public const string End = "<!-- values:end -->";

    private static readonly JsonSerializerOptions Compact = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static IReadOnlyList<DocumentedValue> Read(string valuesText, JsonNode values)
    {
        var result = new List<DocumentedValue>();
        var stack = new List<(int Indent, string Key)>();
        string? pending = null;
        foreach (var line in valuesText.Split('\n'))
        {
            var description = DescriptionLine().Match(line);
            if (description.Success)
            {
                pending = description.Groups[1].Value.Trim();
                continue;
            }

            var key = KeyLine().Match(line);
            if (!key.Success)
            {
                continue;
            }

            var indent = key.Groups[1].Value.Length;
            stack.RemoveAll(entry => entry.Indent >= indent);
            stack.Add((indent, key.Groups[2].Value));
            if (pending is null)
            {
                continue;
            }

            var path = string.Join('.', stack.Select(entry => entry.Key));
            HelmChart.TryGet(values, path, out var value).ShouldBeTrue($"documented key {path} is not in values.yaml");
            result.Add(new DocumentedValue(path, TypeOf(value), value?.ToJsonString(Compact) ?? "null", pending));
            pending = null;
        }

        return result;
    }

    public static string RenderTable(IEnumerable<DocumentedValue> values)
    {
        var table = new StringBuilder();
        table.Append("| Key | Type | Default | Description |\n");
        table.Append("| --- | --- | --- | --- |\n");
        foreach (var value in values)
        {
            table.Append("| `").Append(value.Key).Append("` | ").Append(value.Type).Append(" | `")
                .Append(Cell(value.Default)).Append("` | ").Append(Cell(value.Description)).Append(" |\n");
        }

        return table.ToString();
    }

    /// <summary>The README with its values table replaced by <paramref name="table"/>.</summary>
    public static string WithTable(string readme, string table)
    {
        var start = readme.IndexOf(Start, StringComparison.Ordinal);
        var end = readme.IndexOf(End, StringComparison.Ordinal);
        start.ShouldBeGreaterThanOrEqualTo(0, "README.md lacks the values table start marker");
        end.ShouldBeGreaterThan(start, "README.md lacks the values table end marker");
        return string.Concat(readme.AsSpan(0, start + Start.Length), "\n", table, readme.AsSpan(end));
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal);

    private static string TypeOf(JsonNode? value) => value switch
    {
        null => "null",
        JsonObject => "object",
        JsonArray => "list",
        JsonValue v when v.TryGetValue<bool>(out _) => "bool",
        JsonValue v when v.TryGetValue<long>(out _) => "int",
        JsonValue v when v.TryGetValue<double>(out _) => "float",
        _ => "string",
    };

    [GeneratedRegex(@"^\s*# -- (.*)$")]
    private static partial Regex DescriptionLine();

    [GeneratedRegex(@"^( *)([A-Za-z_][A-Za-z0-9_.-]*):(\s|$)")]
    private static partial Regex KeyLine();
}
