namespace Avg.Shapes;

/// <summary>The object shapes of the Shapes world; each has a few caption synonyms in <see cref="ShapesVocabulary"/>.</summary>
public enum ShapeKind
{
    Circle,
    Square,
    Triangle,
    Diamond,
    Star,
    Hexagon,
    Pentagon,
    Cross,
    Ring,
    Heart,
    Arrow,
}

/// <summary>Object fill colours; their RGB values are in <see cref="ShapesPalette"/>.</summary>
public enum ObjectColour
{
    Red,
    Green,
    Blue,
    Yellow,
    Orange,
    Purple,
    Pink,
    Cyan,
    Brown,
    White,
}

/// <summary>Object size classes, relative to one cell of the 3×3 grid.</summary>
public enum ObjectSize
{
    Small,
    Medium,
    Large,
}

/// <summary>Cells of the 3×3 grid an object sits in, in reading order (row = value / 3, column = value % 3).</summary>
public enum GridCell
{
    TopLeft,
    Top,
    TopRight,
    Left,
    Center,
    Right,
    BottomLeft,
    Bottom,
    BottomRight,
}

/// <summary>Scene backgrounds: three plain ones and two textured ones.</summary>
public enum Background
{
    Dark,
    Light,
    Gray,
    Gradient,
    Noise,
}

/// <summary>One object of a scene, with its exact placement so tests can check the pixels under it.</summary>
/// <param name="X">Centre, in pixels from the left.</param>
/// <param name="Y">Centre, in pixels from the top.</param>
/// <param name="Radius">Half the object's width and height, in pixels.</param>
public sealed record ShapesObject(ShapeKind Shape, ObjectColour Colour, ObjectSize Size, GridCell Cell, float X, float Y, float Radius)
{
    /// <summary>Grid row, 0 = top.</summary>
    public int Row => (int)Cell / 3;

    /// <summary>Grid column, 0 = left.</summary>
    public int Column => (int)Cell % 3;
}

/// <summary>What one Shapes-world image shows: the ground truth its captions describe and its pixels render.</summary>
/// <param name="Index">Position of the image in the dataset (train, then val, then test).</param>
/// <param name="ImageSize">Width and height in pixels.</param>
/// <param name="Objects">One to three objects, each in its own grid cell.</param>
public sealed record ShapesScene(int Index, int ImageSize, Background Background, IReadOnlyList<ShapesObject> Objects);
