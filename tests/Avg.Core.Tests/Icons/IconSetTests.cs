using System.Text.Json.Nodes;
using Avg.Data;
using Avg.Icons;
using Avg.Tests.Support;

namespace Avg.Core.Tests.Icons;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class IconSetTests
{
    // Outline icons in the form of @tabler/icons: a 24 × 24 view box, strokes of width 2 in currentColor, an invisible bounding path.
    private const string Head = """<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">""";
    private const string Bounds = """<path stroke="none" d="M0 0h24v24H0z" fill="none" />""";
    private const string HorizontalLine = Head + Bounds + """<path d="M2 12h20" /></svg>""";
    private const string VerticalLine = Head + Bounds + """<path d="M12 2v20" /></svg>""";
    private const string FilledSquare = Head + Bounds + """<path d="M6 6h12v12h-12z" fill="currentColor" stroke="none" /></svg>""";

    [Fact]
    public void A_path_icon_is_drawn_black_on_white_where_its_strokes_are()
    {
        using var renderer = new SvgPathRenderer(48);
        renderer.Render(HorizontalLine, "line.svg");
        Luma(renderer, x: 24, y: 24).ShouldBeLessThan(40); // on the stroke (scaled 2×: rows 22–25)
        Luma(renderer, x: 24, y: 8).ShouldBe(255);          // off it: white, the bounding path draws nothing
        Luma(renderer, x: 1, y: 24).ShouldBe(255);          // the round cap ends at 2 − 1 = 1 unit = 2 px

        renderer.Render(FilledSquare, "square.svg");
        Luma(renderer, x: 24, y: 24).ShouldBe(0);           // fill overrides the root's fill="none"
        Luma(renderer, x: 6, y: 6).ShouldBe(255);
    }

    [Fact]
    public void Svg_that_is_not_paths_only_is_refused_naming_the_file()
    {
        using var renderer = new SvgPathRenderer(24);
        Should.Throw<DataFormatException>(() => renderer.Render(Head + """<circle cx="12" cy="12" r="9" /></svg>""", "circle.svg"))
            .Message.ShouldBe("circle.svg: has a <circle> element; only <path> elements are drawn (the outline icons of @tabler/icons)");
        Should.Throw<DataFormatException>(() => renderer.Render("<svg", "broken.svg")).Message.ShouldStartWith("broken.svg: not well-formed SVG");
    }

    [Fact]
    public void Captions_come_from_the_name_the_category_and_the_tags()
    {
        var icon = new Icon("arrow-up", "Arrows", ["up", "north", "top", "direction", "arrow-up", "rise"], "arrow-up.svg");
        var captions = IconCaptions.For(icon, new Random(3));
        captions.Count.ShouldBe(IconCaptions.PerIcon);
        captions[0].ShouldBe("arrow up");
        captions[1].ShouldBe("arrow up, an arrows icon");
        // Three captions of three keywords: each tag but the name itself, the five used in turn, shuffled.
        var keywords = captions.Skip(2).SelectMany(c => c.Split(", ")).ToList();
        keywords.Count.ShouldBe(9);
        keywords.Distinct().ShouldBe(["up", "north", "top", "direction", "rise"], ignoreOrder: true);
        keywords.Take(5).Distinct().Count().ShouldBe(5);
        IconCaptions.For(icon, new Random(3)).ShouldBe(captions);
    }

    [Fact]
    public void A_package_becomes_a_karpathy_dataset_with_seeded_splits()
    {
        using var dir = new TempDirectory();
        var package = WritePackage(dir.File("package"), 10);
        var icons = IconCatalog.LoadTabler(package);
        icons.Count.ShouldBe(9); // icon-9 is in the catalog without a drawing
        icons[0].Tags.ShouldBe(["line", "stroke", "404", "bar", "dash"]); // a numeric tag is a word too

        var options = new IconSetOptions { Images = 8, Val = 2, Test = 3, ImageSize = 32, Seed = 5 };
        var summary = IconSet.Write(icons, dir.File("set"), options, "tiny-icons");
        (summary.Train, summary.Val, summary.Test, summary.Captions).ShouldBe((3, 2, 3, 40));

        var dataset = KarpathyReader.Load(dir.File("set"));
        dataset.Name.ShouldBe("tiny-icons");
        dataset.Images.Count.ShouldBe(8);
        dataset.InSplit(Split.Test).Count().ShouldBe(3);
        dataset.Images.ShouldAllBe(i => i.Captions.Count == 5 && File.Exists(dataset.ImagePath(i)));
        var first = dataset.Images.First(i => i.FileName == "images/icon-0.png");
        first.Captions[0].ShouldBe("icon 0");
        first.Captions[1].ShouldBe("icon 0, a shapes icon");
        // The drawn file is the icon: a horizontal stroke through the middle of a 32 px image.
        var pixels = ImageDecoder.DecodeFile(dataset.ImagePath(first), 32);
        pixels[(16 * 32) + 16].ShouldBeLessThan((byte)40);
        pixels[(4 * 32) + 16].ShouldBe((byte)255);

        // The same seed gives the same files; another seed another sample and split.
        IconSet.Write(icons, dir.File("again"), options, "tiny-icons");
        File.ReadAllText(dir.File("again/dataset.json")).ShouldBe(File.ReadAllText(dir.File("set/dataset.json")));
        IconSet.Write(icons, dir.File("other"), options with { Seed = 6 }, "tiny-icons");
        File.ReadAllText(dir.File("other/dataset.json")).ShouldNotBe(File.ReadAllText(dir.File("set/dataset.json")));

        Should.Throw<AvgException>(() => IconSet.Write(icons, dir.File("set"), options, "tiny-icons")).Message.ShouldContain("--force");
        Should.Throw<AvgException>(() => IconSet.Write(icons, dir.File("big"), options with { Images = 20 }, "tiny-icons"))
            .Message.ShouldBe("--images 20: the catalog has only 9 icons");
        Should.Throw<DataFormatException>(() => IconCatalog.LoadTabler(dir.Path)).Message.ShouldContain("@tabler/icons npm package");
    }

    /// <summary>A package folder in the layout of @tabler/icons: icons.json and icons/outline/NAME.svg.</summary>
    private static string WritePackage(string folder, int icons)
    {
        Directory.CreateDirectory(Path.Combine(folder, "icons", "outline"));
        var catalog = new JsonObject();
        for (var i = 0; i < icons; i++)
        {
            var name = $"icon-{i}";
            catalog[name] = new JsonObject
            {
                ["name"] = name,
                ["category"] = "Shapes",
                ["tags"] = i == 0 ? new JsonArray("line", "stroke", 404, "bar", "dash") : new JsonArray("mark", $"tag{i}", "sign", "glyph", "symbol"),
            };
            if (i < icons - 1)
                File.WriteAllText(Path.Combine(folder, "icons", "outline", name + ".svg"), i % 2 == 0 ? HorizontalLine : VerticalLine);
        }
        File.WriteAllText(Path.Combine(folder, IconCatalog.CatalogFileName), catalog.ToJsonString());
        return folder;
    }

    private static int Luma(SvgPathRenderer renderer, int x, int y)
    {
        var p = 4 * ((y * renderer.Size) + x);
        var pixels = renderer.Pixels;
        return (pixels[p] + pixels[p + 1] + pixels[p + 2]) / 3;
    }
}
