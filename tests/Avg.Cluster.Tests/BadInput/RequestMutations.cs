using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;

namespace Avg.Cluster.Tests.BadInput;

/// <summary>One edit of a JSON body: what kind, where (a fraction of the body or of its nodes) and with what.</summary>
public sealed record MutationStep(int Kind, int Where, int Token)
{
    public override string ToString() => $"{RequestMutations.KindNames[Kind]}@{Where}:{Token}";
}

/// <summary>A valid request body (one of <see cref="RequestMutations.SearchBodies"/> or <see cref="RequestMutations.IngestBodies"/>) and the edits that mutate it.</summary>
public sealed record BodyMutation(int Base, MutationStep[] Steps)
{
    public override string ToString() => $"base {Base}: {string.Join(", ", Steps.Select(s => s.ToString()))}";
}

/// <summary>
/// JSON-ish mutations for FsCheck: text edits (cut, delete, insert a token or a stray byte) and structural ones
/// (replace a value with one of another type or out of range, drop, rename or duplicate a property).
/// </summary>
public static class RequestMutations
{
    public static readonly string[] KindNames = ["truncate", "delete", "insert", "replace-value", "drop-property", "rename-property", "duplicate-property", "bad-byte"];

    public static readonly string[] SearchBodies =
    [
        """{"query":"a red circle","k":5}""",
        """{"query":"blue square left of a green triangle","k":10,"beam":8}""",
        """{"query":"shape","levelBeams":[4,8,4],"k":3}""",
        """{"query":"a small yellow circle","indexVersion":null,"beam":1,"k":1}""",
    ];

    public static readonly string[] IngestBodies =
    [
        "{\"images\":[{\"id\":\"fuzz-a\",\"features\":[" + Features(BadInputSiloFixture.FeatureWidth) + "]}]}",
        "{\"images\":[{\"id\":\"fuzz-b\",\"features\":[" + Features(BadInputSiloFixture.FeatureWidth) + "],\"uri\":\"http://example.com/b.png\"},{\"id\":\"fuzz-c\",\"features\":[" + Features(BadInputSiloFixture.FeatureWidth) + "]}]}",
    ];

    private static readonly string[] Tokens =
    [
        "{", "}", "[", "]", "\"", ",", ":", "null", "true", "-", "0", "-1", "1.5", "1e999", "NaN", "\"NaN\"", "\\u0000", "\\ud800", "\\",
        "9999999999", "\"x\"", " ", "\n", "/", "é", "💥", "//", "\"query\"", "\"images\"", "\"id\"", "\"features\"",
    ];

    private static readonly string[] Values =
    [
        "null", "true", "false", "0", "-1", "1", "100", "101", "2147483648", "1.5", "1e39", "-1e39", "\"\"", "\" \"", "\"a\"", "\"10\"",
        "\"NaN\"", "\"Infinity\"", "[]", "{}", "[1,2]", "[null]", "{\"a\":1}", "\"" + new string('a', 1001) + "\"", "\"x/y\"", "\"\\u0001\"",
        "[" + string.Join(',', Enumerable.Repeat("1", 300)) + "]", "\"" + new string('i', 257) + "\"",
    ];

    /// <summary>Mutations of any base body (<see cref="BodyMutation.Base"/> is taken modulo the number of bodies).</summary>
    public static Arbitrary<BodyMutation> Mutations() => Arb.From(Generator());

    public static Gen<BodyMutation> Generator() =>
        from b in Gen.Choose(0, 99)
        from steps in Gen.ArrayOf(
            from kind in Gen.Choose(0, KindNames.Length - 1)
            from at in Gen.Choose(0, 10_000)
            from token in Gen.Choose(0, 1_000)
            select new MutationStep(kind, at, token)).Where(s => s.Length is > 0 and <= 4)
        select new BodyMutation(b, steps);

    /// <summary>The body's bytes after every step; a step that does not apply (no property to drop) leaves it as it is.</summary>
    public static byte[] Apply(string body, BodyMutation mutation)
    {
        ArgumentNullException.ThrowIfNull(mutation);
        var bytes = Encoding.UTF8.GetBytes(body);
        foreach (var step in mutation.Steps)
        {
            bytes = Apply(bytes, step);
        }

        return bytes;
    }

    private static byte[] Apply(byte[] bytes, MutationStep step)
    {
        var at = bytes.Length == 0 ? 0 : step.Where % (bytes.Length + 1);
        switch (KindNames[step.Kind])
        {
            case "truncate":
                return bytes[..at];
            case "delete":
                return [.. bytes[..at], .. bytes[Math.Min(bytes.Length, at + 1 + (step.Token % 8))..]];
            case "insert":
                return [.. bytes[..at], .. Encoding.UTF8.GetBytes(Tokens[step.Token % Tokens.Length]), .. bytes[at..]];
            case "bad-byte":
                return [.. bytes[..at], (byte)(0x80 + (step.Token % 0x80)), .. bytes[at..]];
            default:
                try
                {
                    return Structural(bytes, step) ?? bytes;
                }
                catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
                {
                    return bytes; // JsonNode refuses what the text edits made of the body (a repeated key): leave it.
                }
        }
    }

    private static byte[]? Structural(byte[] bytes, MutationStep step)
    {
        var root = JsonNode.Parse(bytes);

        var nodes = Walk(root).ToList();
        var objects = nodes.OfType<JsonObject>().Where(o => o.Count > 0).ToList();
        switch (KindNames[step.Kind])
        {
            case "replace-value" when nodes.Count > 1:
                var node = nodes[1 + (step.Where % (nodes.Count - 1))];
                if (node is null)
                {
                    return null;
                }

                var replacement = JsonNode.Parse(Values[step.Token % Values.Length]);
                switch (node.Parent)
                {
                    case JsonObject o:
                        o[node.GetPropertyName()] = replacement;
                        break;
                    case JsonArray a:
                        a[node.GetElementIndex()] = replacement;
                        break;
                }

                break;
            case "drop-property" when objects.Count > 0:
                var from = objects[step.Where % objects.Count];
                from.Remove(from.ElementAt(step.Token % from.Count).Key);
                break;
            case "rename-property" when objects.Count > 0:
                var owner = objects[step.Where % objects.Count];
                var (name, value) = owner.ElementAt(step.Token % owner.Count);
                owner.Remove(name);
                owner[step.Token % 2 == 0 ? name.ToUpperInvariant() : name + "x"] = value;
                break;
            case "duplicate-property" when objects.Count > 0:
                // JsonObject keeps keys unique: splice the duplicate into the text instead.
                var text = root!.ToJsonString();
                var target = objects[step.Where % objects.Count];
                var (key, held) = target.ElementAt(step.Token % target.Count);
                var marker = JsonSerializer.Serialize(key) + ":";
                var index = text.IndexOf(marker, StringComparison.Ordinal);
                return index < 0 ? null : Encoding.UTF8.GetBytes(text.Insert(index, marker + (held?.ToJsonString() ?? "null") + ","));
            default:
                return null;
        }

        return Encoding.UTF8.GetBytes(root?.ToJsonString() ?? "null");
    }

    private static IEnumerable<JsonNode?> Walk(JsonNode? node)
    {
        yield return node;
        var children = node switch
        {
            JsonObject o => o.Select(p => p.Value),
            JsonArray a => a,
            _ => [],
        };
        foreach (var child in children.ToList())
        {
            foreach (var n in Walk(child))
            {
                yield return n;
            }
        }
    }

    private static string Features(int width) =>
        string.Join(',', Enumerable.Range(0, width).Select(i => (0.05 * ((i % 9) - 4)).ToString("0.00", CultureInfo.InvariantCulture)));
}
