using System.Text;

namespace Avg.Shapes;

/// <summary>
/// Writes five captions for a scene from varied templates: synonyms, different word orders, omitted attributes,
/// relations, counts and background mentions, so single captions are partial and ambiguous like real ones
/// while the first always names every object's shape, colour and place.
/// </summary>
internal static class CaptionWriter
{
    public const int CaptionsPerImage = 5;

    // Chances that a partial description keeps an attribute.
    private const double KeepColour = 0.75;
    private const double KeepSize = 0.45;
    private const double KeepPlace = 0.55;
    private const double MentionBackground = 0.3;

    // Retries before accepting a caption that repeats an earlier one (tiny scenes have few distinct phrasings).
    private const int DistinctTries = 8;

    private delegate string Template(ShapesScene scene, Random random);

    private static readonly Template[] Templates = [Relation, Counts, PlaceFirst, BackgroundFirst, Terse, Partial];

    public static string[] Write(ShapesScene scene, Random random)
    {
        var captions = new string[CaptionsPerImage];
        captions[0] = Finish(Full(scene, random));
        for (var i = 1; i < captions.Length; i++)
        {
            var caption = "";
            for (var attempt = 0; attempt < DistinctTries; attempt++)
            {
                caption = Finish(Templates[random.Next(Templates.Length)](scene, random));
                if (Array.IndexOf(captions, caption, 0, i) < 0)
                {
                    break;
                }
            }

            captions[i] = caption;
        }

        return captions;
    }

    // "A large red circle in the top left corner and a small blue box at the bottom."
    private static string Full(ShapesScene scene, Random random)
    {
        var parts = Shuffled(scene.Objects, random)
            .Select(o => Describe(o, random, colour: true, size: random.NextDouble() < 0.7, place: true));
        var opener = Pick(random, "", "", "there is ", "an image of ", "a picture showing ");
        var text = opener + JoinList([.. parts], random);
        return random.NextDouble() < MentionBackground ? text + OnBackground(scene.Background, random) : text;
    }

    // "A red circle to the left of a blue square."
    private static string Relation(ShapesScene scene, Random random)
    {
        if (scene.Objects.Count < 2)
        {
            return PlaceFirst(scene, random);
        }

        var objects = Shuffled(scene.Objects, random);
        var (a, b) = (objects[0], objects[1]);
        var text = $"{Describe(a, random, random.NextDouble() < 0.85, random.NextDouble() < 0.3, place: false)} "
            + $"{RelationWord(a, b, random)} {Describe(b, random, random.NextDouble() < 0.85, random.NextDouble() < 0.3, place: false)}";
        if (objects.Count > 2 && random.NextDouble() < 0.5)
        {
            text += $" and {Describe(objects[2], random, random.NextDouble() < KeepColour, random.NextDouble() < KeepSize, place: true)}";
        }

        return text;
    }

    // "Two triangles and a red star on a dark background." / "Three shapes on a gray background."
    private static string Counts(ShapesScene scene, Random random)
    {
        var total = scene.Objects.Count;
        if (random.NextDouble() < 0.25)
        {
            var noun = total == 1 ? Pick(random, "shape", "object") : Pick(random, "shapes", "objects");
            var count = total == 1 ? Pick(random, "a single", "one", "only one") : ShapesVocabulary.Numbers[total];
            return $"{count} {noun}{OnBackground(scene.Background, random)}";
        }

        var groups = scene.Objects.GroupBy(o => o.Shape).Select(g => g.ToList()).ToList();
        var parts = new List<string>();
        foreach (var group in Shuffled(groups, random))
        {
            if (group.Count == 1)
            {
                var only = total == 1 ? Pick(random, "a single ", "just one ", "one ") : "";
                var phrase = Describe(group[0], random, random.NextDouble() < KeepColour, random.NextDouble() < KeepSize, place: false);
                parts.Add(only.Length > 0 ? only + phrase[(phrase.IndexOf(' ', StringComparison.Ordinal) + 1)..] : phrase);
                continue;
            }

            var plural = Noun(group[0].Shape, random).Plural;
            var number = ShapesVocabulary.Numbers[group.Count];
            var colours = group.Select(o => o.Colour).Distinct().ToList();
            if (colours.Count == 1 && random.NextDouble() < KeepColour)
            {
                parts.Add($"{number} {Colour(colours[0], random)} {plural}");
            }
            else if (colours.Count == group.Count && random.NextDouble() < KeepColour)
            {
                var each = string.Join(" and ", group.Select(o => $"one {Colour(o.Colour, random)}"));
                parts.Add($"{number} {plural}, {each},");
            }
            else
            {
                parts.Add($"{number} {plural}");
            }
        }

        var text = JoinList(parts, random).TrimEnd(',');
        return random.NextDouble() < MentionBackground * 1.5 ? text + OnBackground(scene.Background, random) : text;
    }

    // "In the top left corner there is a red circle, and at the bottom a box."
    private static string PlaceFirst(ShapesScene scene, Random random)
    {
        var objects = Shuffled(scene.Objects, random);
        var keep = random.Next(1, objects.Count + 1);
        var clauses = objects.Take(keep).Select((o, i) =>
        {
            var place = ShapesVocabulary.Places(o.Cell)[random.Next(3)];
            var thing = Describe(o, random, random.NextDouble() < KeepColour, random.NextDouble() < KeepSize, place: false);
            return i == 0 ? $"{place} {Pick(random, "there is ", "is ", "")}{thing}" : $"{place} {thing}";
        }).ToList();
        return string.Join(Pick(random, ", and ", ", ", "; "), clauses);
    }

    // "A dark background with a red circle and a blue square."
    private static string BackgroundFirst(ShapesScene scene, Random random)
    {
        var parts = Shuffled(scene.Objects, random)
            .Select(o => Describe(o, random, random.NextDouble() < KeepColour, random.NextDouble() < KeepSize, random.NextDouble() < 0.3))
            .ToList();
        var adjective = BackgroundAdjective(scene.Background, random);
        return Pick(random, "", "an image with ") is var lead && lead.Length > 0
            ? $"{lead}{Article(adjective)} {adjective} background and {JoinList(parts, random)}"
            : $"{Article(adjective)} {adjective} background with {JoinList(parts, random)}";
    }

    // "Red circle, blue square." — no articles, like a tag list.
    private static string Terse(ShapesScene scene, Random random)
    {
        var parts = Shuffled(scene.Objects, random).Select(o =>
        {
            var words = new List<string>();
            if (random.NextDouble() < KeepSize)
            {
                words.Add(SizeWord(o.Size, random));
            }

            if (random.NextDouble() < KeepColour)
            {
                words.Add(Colour(o.Colour, random));
            }

            words.Add(Noun(o.Shape, random).Singular);
            return string.Join(' ', words);
        });
        return string.Join(", ", parts);
    }

    // One object, some attributes: "A big disc." / "Something purple in the lower right."
    private static string Partial(ShapesScene scene, Random random)
    {
        var o = scene.Objects[random.Next(scene.Objects.Count)];
        if (random.NextDouble() < 0.2)
        {
            return $"something {Colour(o.Colour, random)} {ShapesVocabulary.Places(o.Cell)[random.Next(3)]}";
        }

        return Describe(o, random, random.NextDouble() < KeepColour, random.NextDouble() < KeepSize, random.NextDouble() < KeepPlace);
    }

    private static string Describe(ShapesObject o, Random random, bool colour, bool size, bool place)
    {
        var text = new StringBuilder();
        if (size)
        {
            text.Append(SizeWord(o.Size, random)).Append(' ');
        }

        if (colour)
        {
            text.Append(Colour(o.Colour, random)).Append(' ');
        }

        text.Append(Noun(o.Shape, random).Singular);
        if (place)
        {
            text.Append(' ').Append(ShapesVocabulary.Places(o.Cell)[random.Next(3)]);
        }

        var phrase = text.ToString();
        return $"{Article(phrase)} {phrase}";
    }

    private static string RelationWord(ShapesObject a, ShapesObject b, Random random)
    {
        Span<int> options = stackalloc int[2];
        var n = 0;
        if (a.Column != b.Column)
        {
            options[n++] = a.Column < b.Column ? 0 : 1;
        }

        if (a.Row != b.Row)
        {
            options[n++] = a.Row < b.Row ? 2 : 3;
        }

        return options[random.Next(n)] switch
        {
            0 => Pick(random, "to the left of", "left of"),
            1 => Pick(random, "to the right of", "right of"),
            2 => Pick(random, "above", "over"),
            _ => Pick(random, "below", "beneath", "under"),
        };
    }

    private static string OnBackground(Background background, Random random)
    {
        var adjective = BackgroundAdjective(background, random);
        return $" {Pick(random, "on", "against")} {Article(adjective)} {adjective} background";
    }

    private static string BackgroundAdjective(Background background, Random random) =>
        ShapesVocabulary.Names(background)[random.Next(ShapesVocabulary.Names(background).Count)];

    private static Phrase Noun(ShapeKind shape, Random random) => ShapesVocabulary.Names(shape)[random.Next(ShapesVocabulary.Names(shape).Count)];

    private static string Colour(ObjectColour colour, Random random) => ShapesVocabulary.Names(colour)[random.Next(ShapesVocabulary.Names(colour).Count)];

    private static string SizeWord(ObjectSize size, Random random) => ShapesVocabulary.Names(size)[random.Next(ShapesVocabulary.Names(size).Count)];

    private static string Article(string phrase) => "aeiou".Contains(phrase[0], StringComparison.Ordinal) ? "an" : "a";

    private static string Pick(Random random, params string[] options) => options[random.Next(options.Length)];

    private static string JoinList(List<string> parts, Random random) => parts.Count switch
    {
        1 => parts[0],
        2 => $"{parts[0]} and {parts[1]}",
        _ => $"{string.Join(", ", parts.Take(parts.Count - 1))}{Pick(random, ", and ", " and ")}{parts[^1]}",
    };

    private static List<T> Shuffled<T>(IReadOnlyList<T> items, Random random)
    {
        var copy = items.ToArray();
        random.Shuffle(copy);
        return [.. copy];
    }

    // Capitalised with a full stop, as in MS-COCO and Flickr30K raw captions.
    private static string Finish(string text)
    {
        text = text.Trim().TrimEnd(',');
        return string.Concat(char.ToUpperInvariant(text[0]).ToString(), text.AsSpan(1), ".");
    }
}
