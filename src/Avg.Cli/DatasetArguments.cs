using Avg.Data;

namespace Avg.Cli;

/// <summary>
/// The <c>--image-root</c> option every command that reads a Karpathy dataset's image files shares (Flickr30K's and
/// MS-COCO's split JSON sits apart from their image folders), and loading with errors that name the flag.
/// </summary>
internal static class DatasetArguments
{
    public const string ImageRootName = "--image-root";

    /// <summary>A fresh <c>--image-root</c> option.</summary>
    public static System.CommandLine.Option<string?> ImageRootOption() =>
        new(ImageRootName) { Description = "Folder the image file names of the dataset JSON are relative to (default: the JSON's folder), e.g. Flickr30K's flickr30k-images/." };

    /// <summary>Loads the dataset, refusing an image root that is not a folder.</summary>
    public static KarpathyDataset Load(string data, string? imageRoot)
    {
        if (imageRoot is not null && !Directory.Exists(imageRoot))
        {
            throw new AvgException(File.Exists(imageRoot)
                ? $"{ImageRootName} {imageRoot}: is a file; expected the folder the dataset's image file names are relative to"
                : $"{ImageRootName} {imageRoot}: no such folder; expected the folder the dataset's image file names are relative to");
        }

        return KarpathyReader.Load(data, imageRoot is null ? null : Path.GetFullPath(imageRoot));
    }

    /// <summary>Fails before any work when image files are missing, naming the first few, the root looked in and the flag.</summary>
    public static void CheckImagesExist(KarpathyDataset dataset, IReadOnlyList<DatasetImage> images, int maxReported = 3)
    {
        var missing = images.Where(i => !File.Exists(dataset.ImagePath(i))).Take(maxReported + 1).ToList();
        if (missing.Count == 0) return;
        var more = missing.Count > maxReported ? " and more" : "";
        throw new DataFormatException(dataset.ImageRoot,
            $"image files missing: {string.Join(", ", missing.Take(maxReported).Select(i => i.FileName))}{more} (the JSON's file names are read relative to this folder; " +
            $"pass {ImageRootName} with the folder that holds them)");
    }
}
