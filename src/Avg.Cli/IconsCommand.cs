using System.CommandLine;
using System.Globalization;
using Avg.Icons;

namespace Avg.Cli;

/// <summary>`avg data icons`: an icon library (the <c>@tabler/icons</c> npm package) as a real image–text dataset.</summary>
internal static class IconsCommand
{
    public static Command Create(CliContext context)
    {
        var defaults = new IconSetOptions();
        var package = new Option<string>("--package") { Description = "Folder of the unpacked @tabler/icons npm package (with icons.json and icons/outline/); tools/build-icon-set.sh fetches it.", Required = true };
        var output = new Option<string>("--out") { Description = "Folder to write dataset.json and images/ into.", Required = true };
        var images = new Option<int>("--images") { Description = "Icons in all, a seeded sample of the catalog (0 = all).", DefaultValueFactory = _ => defaults.Images };
        var val = new Option<int>("--val") { Description = "Validation images.", DefaultValueFactory = _ => defaults.Val };
        var test = new Option<int>("--test") { Description = "Test images.", DefaultValueFactory = _ => defaults.Test };
        var size = new Option<int>("--size") { Description = "Image width and height in pixels (16–512).", DefaultValueFactory = _ => defaults.ImageSize };
        var seed = new Option<int>("--seed") { Description = "Seed of the sample, the splits and the captions' keyword order.", DefaultValueFactory = _ => defaults.Seed };
        var force = new Option<bool>("--force") { Description = "Write into a non-empty folder, replacing an earlier dataset.json, images/ and backbone cache." };

        var command = new Command("icons",
            "Draw the outline icons of the @tabler/icons package (MIT) to PNG, black on white, with five captions each from the icon's name, category and tags, in the Karpathy split format.");
        foreach (var option in new Option[] { package, output, images, val, test, size, seed, force }) command.Options.Add(option);

        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new IconSetOptions
            {
                Images = parse.GetValue(images),
                Val = parse.GetValue(val),
                Test = parse.GetValue(test),
                ImageSize = parse.GetValue(size),
                Seed = parse.GetValue(seed),
            };
            var folder = Path.GetFullPath(parse.GetValue(package)!);
            var icons = IconCatalog.LoadTabler(folder);
            options.Validate(icons.Count);
            var name = DatasetName(folder);
            var outDir = Path.GetFullPath(parse.GetValue(output)!);
            var total = options.Images == 0 ? icons.Count : options.Images;
            var summary = await ProgressDisplay.RunCountingAsync(context, "icons", total, "images",
                progress => Task.Run(() => IconSet.Write(icons, outDir, options, name, parse.GetValue(force), progress, cancellationToken), cancellationToken)).ConfigureAwait(false);
            var licence = Path.Combine(folder, "LICENSE");
            if (File.Exists(licence)) File.Copy(licence, Path.Combine(outDir, "LICENSE.tabler-icons"), overwrite: true);
            await context.Output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{name} dataset written to {outDir}: {summary.Train + summary.Val + summary.Test:N0} images (train {summary.Train:N0}, val {summary.Val:N0}, test {summary.Test:N0}), " +
                $"{summary.Captions:N0} captions, {summary.Bytes / 1e6:F1} MB")).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    /// <summary>"tabler-icons-3.51.0" from the package's package.json when it has one, else "tabler-icons".</summary>
    private static string DatasetName(string packageFolder)
    {
        var manifest = Path.Combine(packageFolder, "package.json");
        if (!File.Exists(manifest)) return "tabler-icons";
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllText(manifest));
            return document.RootElement.TryGetProperty("version", out var v) && v.GetString() is { Length: > 0 } version ? $"tabler-icons-{version}" : "tabler-icons";
        }
        catch (System.Text.Json.JsonException)
        {
            return "tabler-icons";
        }
    }
}
