using System.Globalization;

namespace Avg.Data;

/// <summary>The figures a user checks first about a dataset: images and captions per split, vocabulary, caption length.</summary>
public sealed record DatasetSummary(string Name, int Train, int Val, int Test, int Captions, int DistinctWords, double MeanCaptionWords)
{
    public static DatasetSummary Of(KarpathyDataset dataset)
    {
        var words = new HashSet<string>(StringComparer.Ordinal);
        long wordCount = 0;
        foreach (var caption in dataset.Images.SelectMany(i => i.Captions))
        {
            foreach (var word in caption.ToLowerInvariant().Split(Separators, StringSplitOptions.RemoveEmptyEntries))
            {
                words.Add(word);
                wordCount++;
            }
        }
        int Count(Split s) => dataset.Images.Count(i => i.Split == s);
        return new DatasetSummary(dataset.Name, Count(Split.Train), Count(Split.Val), Count(Split.Test), dataset.CaptionCount,
            words.Count, dataset.CaptionCount == 0 ? 0 : (double)wordCount / dataset.CaptionCount);
    }

    public void WriteTo(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"dataset {Name}: {Train + Val + Test} images (train {Train}, val {Val}, test {Test}), {Captions} captions, {DistinctWords} distinct words, {MeanCaptionWords:F1} words per caption"));
    }

    private static readonly char[] Separators = [' ', '\t', '\n', '\r', ',', '.', ';', ':', '!', '?', '"', '(', ')'];
}
