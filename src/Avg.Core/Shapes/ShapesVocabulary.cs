namespace Avg.Shapes;

/// <summary>A way to name something in a caption, with its plural where it has one.</summary>
public sealed record Phrase(string Singular, string Plural);

/// <summary>
/// The words captions may use for each attribute, synonyms included. Public so tests (and anyone reading
/// a caption back) can map words to the attribute they name.
/// </summary>
public static class ShapesVocabulary
{
    private static readonly Phrase[][] ShapeWords =
    [
        [new("circle", "circles"), new("disc", "discs"), new("round shape", "round shapes")],
        [new("square", "squares"), new("box", "boxes"), new("block", "blocks")],
        [new("triangle", "triangles")],
        [new("diamond", "diamonds"), new("rhombus", "rhombuses")],
        [new("star", "stars"), new("five-pointed star", "five-pointed stars")],
        [new("hexagon", "hexagons"), new("six-sided shape", "six-sided shapes")],
        [new("pentagon", "pentagons"), new("five-sided shape", "five-sided shapes")],
        [new("cross", "crosses"), new("plus sign", "plus signs")],
        [new("ring", "rings"), new("hoop", "hoops"), new("donut", "donuts")],
        [new("heart", "hearts")],
        [new("arrow", "arrows"), new("right-pointing arrow", "right-pointing arrows")],
    ];

    private static readonly string[][] ColourWords =
    [
        ["red"], ["green"], ["blue"], ["yellow"], ["orange"], ["purple", "violet"], ["pink"], ["cyan", "turquoise"], ["brown"], ["white"],
    ];

    private static readonly string[][] SizeWords = [["small", "tiny", "little"], ["medium", "medium-sized", "mid-sized"], ["large", "big", "huge"]];

    // Locative phrases ("... in the top left corner") for each cell.
    private static readonly string[][] CellPlaces =
    [
        ["in the top left corner", "at the top left", "in the upper left"],
        ["at the top", "at the top center", "in the top middle"],
        ["in the top right corner", "at the top right", "in the upper right"],
        ["on the left", "at the left side", "in the middle left"],
        ["in the center", "in the middle", "at the center"],
        ["on the right", "at the right side", "in the middle right"],
        ["in the bottom left corner", "at the bottom left", "in the lower left"],
        ["at the bottom", "at the bottom center", "in the bottom middle"],
        ["in the bottom right corner", "at the bottom right", "in the lower right"],
    ];

    private static readonly string[][] BackgroundWords =
    [
        ["dark", "black", "dark plain"],
        ["light", "pale", "bright"],
        ["gray", "grey", "plain gray"],
        ["gradient", "shaded", "fading"],
        ["noisy", "textured", "speckled"],
    ];

    /// <summary>Number words for counts in captions ("two triangles").</summary>
    public static readonly IReadOnlyList<string> Numbers = ["zero", "one", "two", "three"];

    public static IReadOnlyList<Phrase> Names(ShapeKind shape) => ShapeWords[(int)shape];

    public static IReadOnlyList<string> Names(ObjectColour colour) => ColourWords[(int)colour];

    public static IReadOnlyList<string> Names(ObjectSize size) => SizeWords[(int)size];

    public static IReadOnlyList<string> Places(GridCell cell) => CellPlaces[(int)cell];

    /// <summary>Adjectives for a background, used as "on a {adjective} background".</summary>
    public static IReadOnlyList<string> Names(Background background) => BackgroundWords[(int)background];
}
