namespace Avg.Icons;

/// <summary>
/// Short captions for an icon from its name, category and tags, as someone searching an icon library would type
/// them: the name, the name with its category, and groups of keywords.
/// </summary>
public static class IconCaptions
{
    /// <summary>Captions per icon.</summary>
    public const int PerIcon = 5;

    /// <summary>Keywords in each keyword caption.</summary>
    public const int TagsPerCaption = 3;

    /// <summary>
    /// <see cref="PerIcon"/> captions: the name's words ("arrow up"), the name with its category ("arrow up, an arrows
    /// icon"), then three captions of <see cref="TagsPerCaption"/> keywords each, the keywords shuffled by
    /// <paramref name="random"/> and reused in turn when an icon has fewer than nine (the name's words stand in for
    /// missing keywords).
    /// </summary>
    public static IReadOnlyList<string> For(Icon icon, Random random)
    {
        ArgumentNullException.ThrowIfNull(icon);
        ArgumentNullException.ThrowIfNull(random);
        var name = Words(icon.Name);
        var captions = new List<string>(PerIcon)
        {
            name,
            icon.Category.Length == 0 ? $"{name} icon" : $"{name}, {Article(icon.Category)} {icon.Category.ToLowerInvariant()} icon",
        };
        var tags = icon.Tags.Select(Words).Where(t => t.Length > 0 && t != name).Distinct(StringComparer.Ordinal).ToArray();
        if (tags.Length == 0) tags = [.. name.Split(' ')];
        random.Shuffle(tags);
        var next = 0;
        while (captions.Count < PerIcon)
        {
            var group = new List<string>(TagsPerCaption);
            for (var k = 0; k < Math.Min(TagsPerCaption, tags.Length); k++) group.Add(tags[next++ % tags.Length]);
            captions.Add(string.Join(", ", group));
        }
        return captions;
    }

    /// <summary>An identifier's words, lower-case: "arrow-up_2" → "arrow up 2".</summary>
    public static string Words(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var spaced = text.ToLowerInvariant().Replace('-', ' ').Replace('_', ' ');
        return string.Join(' ', spaced.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    private static string Article(string word) => "aeiouAEIOU".Contains(word[0], StringComparison.Ordinal) ? "an" : "a";
}
