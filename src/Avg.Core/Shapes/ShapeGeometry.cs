using SkiaSharp;

namespace Avg.Shapes;

/// <summary>Outlines of each shape, fitted inside a square of half-width <see cref="ShapesObject.Radius"/>.</summary>
public static class ShapeGeometry
{
    private const float StarInnerRatio = 0.45f;
    private const float RingHoleRatio = 0.5f;
    private const float CrossArmHalfWidth = 0.34f;
    private const float SquareHalfSide = 0.85f;
    private const float DiamondHalfWidth = 0.75f;

    /// <summary>The shape as a path the renderer fills; the caller disposes it.</summary>
    public static SKPath Outline(ShapesObject o)
    {
        var (x, y, r) = (o.X, o.Y, o.Radius);
        using var path = new SKPathBuilder();
        switch (o.Shape)
        {
            case ShapeKind.Circle:
                path.AddCircle(x, y, r);
                break;
            case ShapeKind.Square:
                var h = r * SquareHalfSide;
                path.AddRect(new SKRect(x - h, y - h, x + h, y + h));
                break;
            case ShapeKind.Triangle:
                Polygon(path, x, y + (r * 0.2f), r * 1.15f, 3, r);
                break;
            case ShapeKind.Diamond:
                path.AddPoly([new(x, y - r), new(x + (r * DiamondHalfWidth), y), new(x, y + r), new(x - (r * DiamondHalfWidth), y)]);
                break;
            case ShapeKind.Star:
                Star(path, x, y, r);
                break;
            case ShapeKind.Hexagon:
                Polygon(path, x, y, r, 6, r);
                break;
            case ShapeKind.Pentagon:
                Polygon(path, x, y + (r * 0.08f), r * 1.05f, 5, r);
                break;
            case ShapeKind.Cross:
                var w = r * CrossArmHalfWidth;
                path.AddPoly(
                [
                    new(x - w, y - r), new(x + w, y - r), new(x + w, y - w), new(x + r, y - w), new(x + r, y + w), new(x + w, y + w),
                    new(x + w, y + r), new(x - w, y + r), new(x - w, y + w), new(x - r, y + w), new(x - r, y - w), new(x - w, y - w),
                ]);
                break;
            case ShapeKind.Ring:
                path.FillType = SKPathFillType.EvenOdd;
                path.AddCircle(x, y, r);
                path.AddCircle(x, y, r * RingHoleRatio);
                break;
            case ShapeKind.Heart:
                path.MoveTo(x, y + r);
                path.CubicTo(x - (r * 1.1f), y + (r * 0.2f), x - (r * 1.05f), y - r, x, y - (r * 0.45f));
                path.CubicTo(x + (r * 1.05f), y - r, x + (r * 1.1f), y + (r * 0.2f), x, y + r);
                path.Close();
                break;
            default:
                // Arrow pointing right: a shaft and a head.
                var s = r * 0.3f;
                path.AddPoly([new(x - r, y - s), new(x, y - s), new(x, y - r), new(x + r, y), new(x, y + r), new(x, y + s), new(x - r, y + s)]);
                break;
        }

        return path.Detach();
    }

    /// <summary>A point well inside the shape (not on an edge, not in a ring's hole), where its colour is exact.</summary>
    public static SKPoint InteriorPoint(ShapesObject o) => o.Shape switch
    {
        ShapeKind.Ring => new SKPoint(o.X + (o.Radius * (1 + RingHoleRatio) / 2), o.Y),
        _ => new SKPoint(o.X, o.Y),
    };

    private static void Polygon(SKPathBuilder path, float x, float y, float radius, int sides, float clamp)
    {
        var points = new SKPoint[sides];
        for (var i = 0; i < sides; i++)
        {
            var angle = (-MathF.PI / 2) + (2 * MathF.PI * i / sides);
            points[i] = new SKPoint(x + (radius * MathF.Cos(angle)), Math.Clamp(y + (radius * MathF.Sin(angle)), y - clamp, y + clamp));
        }

        path.AddPoly(points);
    }

    private static void Star(SKPathBuilder path, float x, float y, float r)
    {
        var points = new SKPoint[10];
        for (var i = 0; i < points.Length; i++)
        {
            var angle = (-MathF.PI / 2) + (MathF.PI * i / 5);
            var radius = i % 2 == 0 ? r : r * StarInnerRatio;
            points[i] = new SKPoint(x + (radius * MathF.Cos(angle)), y + (radius * MathF.Sin(angle)) + (r * 0.1f));
        }

        path.AddPoly(points);
    }
}
