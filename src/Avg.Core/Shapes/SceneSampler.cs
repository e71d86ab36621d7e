namespace Avg.Shapes;

/// <summary>Draws a random scene: how many objects, which cells, shapes, colours, sizes and background.</summary>
internal static class SceneSampler
{
    // Radius of each size class as a fraction of one grid cell; large still fits its cell, so objects never overlap.
    private static readonly float[] RadiusPerCell = [0.22f, 0.33f, 0.46f];

    // Cumulative odds of 1, 2 and 3 objects.
    private static readonly double[] ObjectCountOdds = [0.3, 0.7, 1.0];

    // Same-shape pairs are rare under uniform draws; this makes plural captions ("two stars") common enough to learn.
    private const double RepeatShapeOdds = 0.15;

    // Fraction of the free room around an object in its cell that jitter may use.
    private const float JitterShare = 0.8f;

    public static ShapesScene Sample(int index, int imageSize, Random random)
    {
        var background = (Background)random.Next(Enum.GetValues<Background>().Length);
        var colours = ShapesPalette.Contrasting(background);
        var count = ObjectCount(random);

        Span<int> cells = stackalloc int[9];
        for (var i = 0; i < cells.Length; i++)
        {
            cells[i] = i;
        }

        random.Shuffle(cells);

        var cellSize = imageSize / 3f;
        var objects = new ShapesObject[count];
        for (var i = 0; i < count; i++)
        {
            var shape = i > 0 && random.NextDouble() < RepeatShapeOdds
                ? objects[i - 1].Shape
                : (ShapeKind)random.Next(Enum.GetValues<ShapeKind>().Length);
            var colour = colours[random.Next(colours.Count)];
            var size = (ObjectSize)random.Next(RadiusPerCell.Length);
            var cell = (GridCell)cells[i];
            var radius = RadiusPerCell[(int)size] * cellSize;
            var room = MathF.Max(0, (cellSize / 2) - radius - 0.5f) * JitterShare;
            var x = (((int)cell % 3) + 0.5f) * cellSize + Jitter(random, room);
            var y = (((int)cell / 3) + 0.5f) * cellSize + Jitter(random, room);
            objects[i] = new ShapesObject(shape, colour, size, cell, x, y, radius);
        }

        return new ShapesScene(index, imageSize, background, objects);
    }

    private static int ObjectCount(Random random)
    {
        var u = random.NextDouble();
        var count = 1;
        while (u >= ObjectCountOdds[count - 1])
        {
            count++;
        }

        return count;
    }

    private static float Jitter(Random random, float room) => (float)((random.NextDouble() * 2) - 1) * room;
}
