using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Avg.Deploy.Tests.Support;

/// <summary>
/// The chart as files: values, schema and templates, with the text-level views the tests need in place of
/// <c>helm template</c> (no helm binary on the build machines): the <c>.Values</c> paths templates use, templates
/// with their actions stripped so the YAML around them can be parsed, and the env vars they set.
/// </summary>
public static partial class HelmChart
{
    public static string ValuesText => File.ReadAllText(Path.Combine(Repo.Chart, "values.yaml"));

    public static JsonObject Values => (JsonObject)Yaml.Load(ValuesText)!;

    public static string SchemaText => File.ReadAllText(Path.Combine(Repo.Chart, "values.schema.json"));

    /// <summary>Template file name → text, for every file under templates/ (NOTES.txt included).</summary>
    public static IReadOnlyDictionary<string, string> Templates =>
        Directory.GetFiles(Path.Combine(Repo.Chart, "templates"))
            .Order(StringComparer.Ordinal)
            .ToDictionary(path => Path.GetFileName(path), File.ReadAllText, StringComparer.Ordinal);

    /// <summary>Every <c>.Values.a.b</c> path written in a template, as <c>a.b</c>.</summary>
    public static IReadOnlySet<string> UsedValuePaths() =>
        Templates.Values.SelectMany(t => ValuesReference().Matches(t)).Select(m => m.Groups[1].Value.TrimStart('.')).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// Leaves of a values tree: scalars, lists and empty maps, as dotted paths (a map with keys is not a leaf).
    /// </summary>
    public static IEnumerable<string> LeafPaths(JsonNode? node, string prefix = "")
    {
        if (node is JsonObject map && map.Count > 0)
        {
            foreach (var (key, child) in map)
            {
                foreach (var leaf in LeafPaths(child, prefix.Length == 0 ? key : prefix + "." + key))
                {
                    yield return leaf;
                }
            }
        }
        else
        {
            yield return prefix;
        }
    }

    /// <summary>The node at a dotted path, or false when some key on the way is missing.</summary>
    public static bool TryGet(JsonNode? root, string path, out JsonNode? value)
    {
        value = root;
        foreach (var key in path.Length == 0 ? [] : path.Split('.'))
        {
            if (value is not JsonObject map || !map.TryGetPropertyValue(key, out value))
            {
                value = null;
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The template with Go-template actions removed: comments dropped, lines holding only actions dropped,
    /// inline actions replaced by a placeholder scalar. Both branches of an if/else stay, so the result is the
    /// YAML skeleton every rendering shares, not a rendering.
    /// </summary>
    public static string StripActions(string template)
    {
        var withoutComments = CommentAction().Replace(template, "");
        var lines = withoutComments.Split('\n')
            .Where(line => !ActionsOnlyLine().IsMatch(line))
            .Select(line => InlineAction().Replace(line, "x"));
        return string.Join('\n', lines);
    }

    /// <summary>Bodies of the <c>define</c> blocks of a helpers file, by template name.</summary>
    public static IReadOnlyDictionary<string, string> Defines(string helpers) =>
        DefineBlock().Matches(helpers).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);

    /// <summary>Names of env vars a template sets: <c>- name: X</c> entries followed by <c>value:</c> or <c>valueFrom:</c>.</summary>
    public static IEnumerable<string> EnvNames(string template)
    {
        var lines = StripActions(template).Split('\n');
        for (var i = 0; i + 1 < lines.Length; i++)
        {
            var name = EnvNameLine().Match(lines[i]);
            if (name.Success && EnvValueLine().IsMatch(lines[i + 1]))
            {
                yield return name.Groups[1].Value;
            }
        }
    }

    [GeneratedRegex(@"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")]
    private static partial Regex ValuesReference();

    [GeneratedRegex(@"\{\{-?\s*/\*.*?\*/\s*-?\}\}", RegexOptions.Singleline)]
    private static partial Regex CommentAction();

    [GeneratedRegex(@"^\s*(\{\{.*?\}\}\s*)+$")]
    private static partial Regex ActionsOnlyLine();

    [GeneratedRegex(@"\{\{.*?\}\}")]
    private static partial Regex InlineAction();

    [GeneratedRegex(@"\{\{-?\s*define\s+""([^""]+)""\s*-?\}\}(.*?)\{\{-?\s*end\s*-?\}\}\s*(?=\{\{/\*|\{\{-?\s*define|\z)", RegexOptions.Singleline)]
    private static partial Regex DefineBlock();

    [GeneratedRegex(@"^\s*- name: ([A-Za-z_][A-Za-z0-9_]*)\s*$")]
    private static partial Regex EnvNameLine();

    [GeneratedRegex(@"^\s+(value|valueFrom):")]
    private static partial Regex EnvValueLine();
}
