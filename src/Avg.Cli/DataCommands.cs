using System.CommandLine;
using System.Globalization;
using Avg.Data;

namespace Avg.Cli;

/// <summary>`avg data …`: make and inspect datasets.</summary>
internal static class DataCommands
{
    public static Command Create(CliContext context)
    {
        var data = new Command("data", "Make and inspect datasets (Karpathy split format).");
        data.Subcommands.Add(ShapesCommand.Create(context));
        data.Subcommands.Add(IconsCommand.Create(context));
        data.Subcommands.Add(CreateCheck(context));
        return data;
    }

    private static Command CreateCheck(CliContext context)
    {
        var dataOption = new Option<string>("--data") { Description = "Dataset folder (with dataset.json) or Karpathy JSON file.", Required = true };
        var imageRootOption = DatasetArguments.ImageRootOption();
        var imageFeatures = new Option<string?>("--image-features") { Description = "Precomputed image vectors (.npy float32, one row per image)." };
        var captionFeatures = new Option<string?>("--caption-features") { Description = "Precomputed caption vectors (.npy float32, one row per caption)." };
        var decode = new Option<bool>("--decode") { Description = "Decode every image (slow on large sets) instead of only checking the files exist." };
        var size = new Option<int>("--size") { Description = "Decode size in pixels, with --decode.", DefaultValueFactory = _ => 64 };

        var check = new Command("check", "Validate a dataset (JSON, image files, optional features) and print its summary.")
        {
            dataOption, imageRootOption, imageFeatures, captionFeatures, decode, size,
        };
        check.SetAction(parse =>
        {
            var dataset = DatasetArguments.Load(parse.GetValue(dataOption)!, parse.GetValue(imageRootOption));
            DatasetArguments.CheckImagesExist(dataset, dataset.Images);
            var features = (parse.GetValue(imageFeatures), parse.GetValue(captionFeatures)) switch
            {
                (null, null) => null,
                ({ } i, { } c) => PrecomputedFeatures.Load(dataset, i, c),
                _ => throw new AvgException("--image-features and --caption-features go together; give both or neither"),
            };
            if (parse.GetValue(decode))
            {
                var decoded = ImageDecoder.DecodeInBatches(dataset, dataset.Images, parse.GetValue(size)).Sum(b => b.Count);
                context.Output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"decoded: {decoded} images"));
            }
            DatasetSummary.Of(dataset).WriteTo(context.Output);
            if (features is not null)
                context.Output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"features: width {features.Width}, {features.Images.Length / features.Width} image rows, {features.Captions.Length / features.Width} caption rows"));
            return 0;
        });
        return check;
    }
}
