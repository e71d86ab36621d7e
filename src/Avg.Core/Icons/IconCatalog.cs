using System.Text.Json;

namespace Avg.Icons;

/// <summary>One icon of a catalog: its name, category and keywords, and the SVG file that draws it.</summary>
public sealed record Icon(string Name, string Category, IReadOnlyList<string> Tags, string SvgPath);

/// <summary>
/// Reads the icon catalog of the <c>@tabler/icons</c> npm package (MIT): <c>icons.json</c> (name, category and tags of
/// each icon) and the outline drawings in <c>icons/outline/NAME.svg</c>.
/// </summary>
public static class IconCatalog
{
    /// <summary>The catalog file inside the package folder.</summary>
    public const string CatalogFileName = "icons.json";

    /// <summary>The folder of the outline drawings inside the package folder.</summary>
    public static readonly string OutlineFolder = Path.Combine("icons", "outline");

    /// <summary>
    /// The icons of the package in <paramref name="packageFolder"/> (the folder holding <c>icons.json</c>) that have an
    /// outline drawing, in catalog order.
    /// </summary>
    public static IReadOnlyList<Icon> LoadTabler(string packageFolder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(packageFolder);
        var catalogPath = Path.Combine(packageFolder, CatalogFileName);
        var outline = Path.Combine(packageFolder, OutlineFolder);
        if (!File.Exists(catalogPath) || !Directory.Exists(outline))
        {
            throw new DataFormatException(packageFolder,
                $"expected the folder of the @tabler/icons npm package, with {CatalogFileName} and {OutlineFolder}/ (tools/build-icon-set.sh fetches and unpacks it)");
        }

        JsonDocument document;
        try
        {
            using var stream = File.OpenRead(catalogPath);
            document = JsonDocument.Parse(stream);
        }
        catch (JsonException e)
        {
            throw new DataFormatException(catalogPath, $"malformed JSON: {e.Message}", e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new DataFormatException(catalogPath, "expected a JSON object of icons by name");
            var icons = new List<Icon>();
            foreach (var entry in document.RootElement.EnumerateObject())
            {
                var svg = Path.Combine(outline, entry.Name + ".svg");
                if (!File.Exists(svg)) continue;
                var value = entry.Value;
                var category = value.TryGetProperty("category", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "";
                var tags = new List<string>();
                if (value.TryGetProperty("tags", out var t) && t.ValueKind == JsonValueKind.Array)
                {
                    // A few tags are JSON numbers ("2", "404"); they are words of the caption all the same.
                    foreach (var tag in t.EnumerateArray())
                    {
                        var text = tag.ValueKind == JsonValueKind.String ? tag.GetString()! : tag.GetRawText();
                        if (!string.IsNullOrWhiteSpace(text)) tags.Add(text.Trim());
                    }
                }
                icons.Add(new Icon(entry.Name, category, tags, svg));
            }
            if (icons.Count == 0) throw new DataFormatException(catalogPath, $"no icon of the catalog has a drawing in {OutlineFolder}/");
            return icons;
        }
    }
}
