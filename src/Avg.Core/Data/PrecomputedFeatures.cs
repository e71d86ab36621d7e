namespace Avg.Data;

/// <summary>
/// Precomputed image and caption vectors (e.g. CLIP) aligned with a dataset: image row i is the dataset's
/// image i, caption row j its j-th caption in file order. Checked against the dataset when opened.
/// </summary>
public sealed class PrecomputedFeatures
{
    private PrecomputedFeatures(float[] images, float[] captions, int width)
    {
        Images = images;
        Captions = captions;
        Width = width;
    }

    /// <summary>Image vectors, row-major (images × width).</summary>
    public float[] Images { get; }

    /// <summary>Caption vectors, row-major (captions × width).</summary>
    public float[] Captions { get; }

    public int Width { get; }

    /// <summary>Loads both files, checking dtype, row counts against the dataset and equal widths.</summary>
    public static PrecomputedFeatures Load(KarpathyDataset dataset, string imageFeaturesPath, string captionFeaturesPath)
    {
        using var images = NpyMatrix.Open(imageFeaturesPath);
        images.ExpectShape(dataset.Images.Count, null, $"image in {Path.GetFileName(dataset.JsonPath)}");
        using var captions = NpyMatrix.Open(captionFeaturesPath);
        captions.ExpectShape(dataset.CaptionCount, null, $"caption in {Path.GetFileName(dataset.JsonPath)}");
        if (captions.Columns != images.Columns)
        {
            throw new DataFormatException(captionFeaturesPath,
                $"has {captions.Columns} columns, expected {images.Columns} (the width of {Path.GetFileName(imageFeaturesPath)})");
        }

        var imageRows = images.ReadAll();
        var captionRows = captions.ReadAll();
        CheckFinite(imageFeaturesPath, imageRows, images.Columns);
        CheckFinite(captionFeaturesPath, captionRows, captions.Columns);
        return new PrecomputedFeatures(imageRows, captionRows, images.Columns);
    }

    /// <summary>Copies the given rows (by index) of a row-major matrix into a new one, in that order.</summary>
    public static float[] GatherRows(float[] rows, int width, IReadOnlyList<int> indices)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(indices);
        var result = new float[(long)indices.Count * width];
        for (var i = 0; i < indices.Count; i++) Array.Copy(rows, (long)indices[i] * width, result, (long)i * width, width);
        return result;
    }

    private static void CheckFinite(string path, float[] rows, int width)
    {
        for (var i = 0; i < rows.Length; i++)
        {
            if (!float.IsFinite(rows[i]))
                throw new DataFormatException(path, $"row {i / width} column {i % width} is {rows[i]}; expected finite values");
        }
    }
}
