namespace Avg.Data;

/// <summary>Which part of a dataset an image belongs to. Karpathy's "restval" counts as <see cref="Train"/>.</summary>
public enum Split
{
    Train,
    Val,
    Test,
}

/// <summary>One image of a Karpathy-format dataset with its captions (in file order).</summary>
/// <param name="Index">Position in the JSON's image list: the row of this image in an image-feature file.</param>
/// <param name="FirstCaption">Row of this image's first caption in a caption-feature file.</param>
public sealed record DatasetImage(int Index, int ImageId, string FileName, Split Split, IReadOnlyList<string> Captions, int FirstCaption);

/// <summary>
/// A dataset in the Karpathy split format (Flickr30K, MS-COCO, Shapes world): the JSON's images and
/// captions plus the folder the image files are in. Images are decoded lazily, one at a time.
/// </summary>
public sealed class KarpathyDataset
{
    public KarpathyDataset(string jsonPath, string imageRoot, string name, IReadOnlyList<DatasetImage> images)
    {
        JsonPath = jsonPath;
        ImageRoot = imageRoot;
        Name = name;
        Images = images;
        CaptionCount = images.Count == 0 ? 0 : images[^1].FirstCaption + images[^1].Captions.Count;
    }

    /// <summary>The dataset JSON file.</summary>
    public string JsonPath { get; }

    /// <summary>Folder that the images' file names are relative to.</summary>
    public string ImageRoot { get; }

    /// <summary>The "dataset" field of the JSON, or the folder name.</summary>
    public string Name { get; }

    public IReadOnlyList<DatasetImage> Images { get; }

    /// <summary>Total captions over all images: the row count a caption-feature file must have.</summary>
    public int CaptionCount { get; }

    /// <summary>Images of one split, in file order.</summary>
    public IEnumerable<DatasetImage> InSplit(Split split) => Images.Where(i => i.Split == split);

    /// <summary>Full path of an image file.</summary>
    public string ImagePath(DatasetImage image) => Path.Combine(ImageRoot, image.FileName);
}
