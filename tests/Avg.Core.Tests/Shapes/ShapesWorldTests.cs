using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Avg.Data;
using Avg.Shapes;
using Avg.Tests.Support;
using SkiaSharp;

namespace Avg.Core.Tests.Shapes;

[Trait(TestCategory.Name, TestCategory.Integration)]
public class ShapesWorldTests
{
    private static readonly ShapesWorldOptions Small = new() { Train = 40, Val = 6, Test = 4, Seed = 7 };

    [Fact]
    public void Same_options_give_byte_identical_files_and_another_seed_differs()
    {
        using var a = new TempDirectory();
        using var b = new TempDirectory();
        using var c = new TempDirectory();
        new ShapesWorld(Small).Generate(a.Path);
        new ShapesWorld(Small).Generate(b.Path);
        new ShapesWorld(Small with { Seed = 8 }).Generate(c.Path);

        var first = Hashes(a.Path);
        first.Count.ShouldBe(Small.Total + 1);
        Hashes(b.Path).ShouldBe(first);
        var other = Hashes(c.Path);
        other.Keys.ShouldBe(first.Keys);
        other[ShapesWorld.DatasetFileName].ShouldNotBe(first[ShapesWorld.DatasetFileName]);
        other.Count(kv => first[kv.Key] != kv.Value).ShouldBeGreaterThan(Small.Total * 9 / 10);
    }

    [Fact]
    public void Writes_karpathy_json_with_splits_in_order_and_five_captions_each()
    {
        using var folder = new TempDirectory();
        var summary = new ShapesWorld(Small).Generate(folder.Path);

        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder.Path, ShapesWorld.DatasetFileName)));
        json.RootElement.GetProperty("dataset").GetString().ShouldBe("shapes");
        var images = json.RootElement.GetProperty("images").EnumerateArray().ToList();
        images.Count.ShouldBe(Small.Total);
        images.Select(i => i.GetProperty("split").GetString()).ShouldBe(
            Enumerable.Repeat("train", 40).Concat(Enumerable.Repeat("val", 6)).Concat(Enumerable.Repeat("test", 4)));

        var sentid = 0;
        for (var i = 0; i < images.Count; i++)
        {
            images[i].GetProperty("imgid").GetInt32().ShouldBe(i);
            var file = images[i].GetProperty("filename").GetString()!;
            File.Exists(Path.Combine(folder.Path, file)).ShouldBeTrue(file);
            var sentences = images[i].GetProperty("sentences").EnumerateArray().ToList();
            sentences.Count.ShouldBe(5);
            images[i].GetProperty("sentids").EnumerateArray().Select(e => e.GetInt32()).ShouldBe(Enumerable.Range(sentid, 5));
            foreach (var s in sentences)
            {
                s.GetProperty("imgid").GetInt32().ShouldBe(i);
                s.GetProperty("sentid").GetInt32().ShouldBe(sentid++);
                var tokens = s.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!).ToList();
                tokens.ShouldNotBeEmpty();
                tokens.ShouldAllBe(t => Regex.IsMatch(t, "^[a-z0-9-]+$"));
                string.Join(' ', tokens).ShouldBe(string.Join(' ', Regex.Matches(s.GetProperty("raw").GetString()!.ToLowerInvariant(), "[a-z0-9-]+").Select(m => m.Value)));
            }
        }

        summary.Captions.ShouldBe(Small.Total * 5);
        summary.ImagesPerSplit.ShouldBe([40, 6, 4]);
        summary.DistinctWords.ShouldBeGreaterThan(50);
        summary.BytesWritten.ShouldBe(Directory.EnumerateFiles(folder.Path, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length));
    }

    [Fact]
    public void Scenes_have_one_to_three_objects_in_distinct_cells_with_contrasting_colours()
    {
        var world = new ShapesWorld(Small with { Train = 500 });
        var scenes = Enumerable.Range(0, 500).Select(world.Scene).ToList();
        foreach (var scene in scenes)
        {
            scene.Objects.Count.ShouldBeInRange(1, 3);
            scene.Objects.Select(o => o.Cell).Distinct().Count().ShouldBe(scene.Objects.Count);
            scene.Objects.ShouldAllBe(o => ShapesPalette.Contrasting(scene.Background).Contains(o.Colour));
        }

        // Every attribute value turns up, so the vocabulary is really used.
        scenes.SelectMany(s => s.Objects).Select(o => o.Shape).Distinct().Count().ShouldBe(Enum.GetValues<ShapeKind>().Length);
        scenes.SelectMany(s => s.Objects).Select(o => o.Colour).Distinct().Count().ShouldBe(Enum.GetValues<ObjectColour>().Length);
        scenes.Select(s => s.Background).Distinct().Count().ShouldBe(Enum.GetValues<Background>().Length);
        scenes.Select(s => s.Objects.Count).Distinct().Count().ShouldBe(3);
        Enum.GetValues<Background>().ShouldAllBe(b => ShapesPalette.Contrasting(b).Count >= 5);
    }

    [Fact]
    public void Captions_name_only_what_is_in_the_scene_and_the_first_names_every_object()
    {
        var world = new ShapesWorld(Small with { Train = 400 });
        for (var i = 0; i < 400; i++)
        {
            var scene = world.Scene(i);
            var captions = world.Captions(scene);
            captions.Count.ShouldBe(5);
            captions.Distinct().Count().ShouldBeGreaterThan(2);
            foreach (var caption in captions)
            {
                var text = caption.ToLowerInvariant();
                var context = $"image {i}: {caption}";
                foreach (var shape in Enum.GetValues<ShapeKind>())
                {
                    var named = ShapesVocabulary.Names(shape).Any(p => Mentions(text, p.Singular) || Mentions(text, p.Plural));
                    (named && scene.Objects.All(o => o.Shape != shape)).ShouldBeFalse(context);
                    var count = scene.Objects.Count(o => o.Shape == shape);
                    foreach (var number in new[] { 2, 3 }.Where(n => n != count))
                    {
                        ShapesVocabulary.Names(shape).Any(p => Mentions(text, $"{ShapesVocabulary.Numbers[number]} {p.Plural}")).ShouldBeFalse(context);
                    }
                }

                foreach (var colour in Enum.GetValues<ObjectColour>())
                {
                    (ShapesVocabulary.Names(colour).Any(w => Mentions(text, w)) && scene.Objects.All(o => o.Colour != colour)).ShouldBeFalse(context);
                }

                foreach (var size in Enum.GetValues<ObjectSize>())
                {
                    (ShapesVocabulary.Names(size).Any(w => Mentions(text, w)) && scene.Objects.All(o => o.Size != size)).ShouldBeFalse(context);
                }

                foreach (var background in Enum.GetValues<Background>().Where(b => b != scene.Background))
                {
                    ShapesVocabulary.Names(background).Any(w => Mentions(text, w + " background")).ShouldBeFalse(context);
                }

                foreach (var number in new[] { 1, 2, 3 }.Where(n => n != scene.Objects.Count))
                {
                    Mentions(text, $"{ShapesVocabulary.Numbers[number]} shapes").ShouldBeFalse(context);
                    Mentions(text, $"{ShapesVocabulary.Numbers[number]} objects").ShouldBeFalse(context);
                }
            }

            foreach (var o in scene.Objects)
            {
                ShapesVocabulary.Names(o.Colour).Any(w => Mentions(captions[0].ToLowerInvariant(), w)).ShouldBeTrue(captions[0]);
                ShapesVocabulary.Places(o.Cell).Any(w => Mentions(captions[0].ToLowerInvariant(), w)).ShouldBeTrue(captions[0]);
            }
        }
    }

    [Fact]
    public void Relations_between_objects_match_their_cells()
    {
        var world = new ShapesWorld(Small with { Train = 400 });
        var checkedRelations = 0;
        for (var i = 0; i < 400; i++)
        {
            var scene = world.Scene(i);
            if (scene.Objects.Count != 2 || scene.Objects[0].Shape == scene.Objects[1].Shape)
            {
                continue;
            }

            foreach (var caption in world.Captions(scene))
            {
                var text = caption.ToLowerInvariant();
                foreach (var (word, holds) in new (string, Func<ShapesObject, ShapesObject, bool>)[]
                {
                    ("left of", (a, b) => a.Column < b.Column),
                    ("right of", (a, b) => a.Column > b.Column),
                    ("above", (a, b) => a.Row < b.Row),
                    ("below", (a, b) => a.Row > b.Row),
                })
                {
                    var at = text.IndexOf(" " + word + " ", StringComparison.Ordinal);
                    if (at < 0)
                    {
                        continue;
                    }

                    // The subject is the shape named before the relation word, the object the one after it.
                    var subject = scene.Objects.Single(o => ShapesVocabulary.Names(o.Shape).Any(p => Mentions(text[..at], p.Singular)));
                    var other = scene.Objects.Single(o => o != subject);
                    holds(subject, other).ShouldBeTrue($"image {i}: {caption}");
                    checkedRelations++;
                }
            }
        }

        checkedRelations.ShouldBeGreaterThan(20);
    }

    [Fact]
    public void Each_object_is_rendered_in_its_colour_at_its_place()
    {
        using var folder = new TempDirectory();
        var world = new ShapesWorld(Small);
        world.Generate(folder.Path);
        for (var i = 0; i < Small.Total; i++)
        {
            var scene = world.Scene(i);
            using var bitmap = SKBitmap.Decode(Path.Combine(folder.Path, world.FileName(i)));
            bitmap.Width.ShouldBe(64);
            foreach (var o in scene.Objects)
            {
                var p = ShapeGeometry.InteriorPoint(o);
                var pixel = bitmap.GetPixel((int)p.X, (int)p.Y);
                pixel.ShouldBe(ShapesPalette.Rgb(o.Colour), $"image {i}, {o}");
            }

            // A corner cell with no object shows the background, not an object's colour.
            var corner = bitmap.GetPixel(1, 1);
            if (scene.Objects.All(o => o.Cell != GridCell.TopLeft))
            {
                scene.Objects.ShouldAllBe(o => corner != ShapesPalette.Rgb(o.Colour), $"image {i}");
            }
        }
    }

    [Fact]
    public void Refuses_a_non_empty_folder_unless_told_to_overwrite()
    {
        using var folder = new TempDirectory();
        var world = new ShapesWorld(Small with { Train = 5, Val = 0, Test = 0 });
        world.Generate(folder.Path);

        Should.Throw<AvgException>(() => world.Generate(folder.Path)).Message.ShouldContain("--force");
        new ShapesWorld(Small with { Train = 3, Val = 0, Test = 0 }).Generate(folder.Path, overwrite: true);
        Directory.GetFiles(Path.Combine(folder.Path, ShapesWorld.ImageFolderName)).Length.ShouldBe(3);
    }

    [Theory]
    [InlineData(-1, 0, 0, 64, "--train")]
    [InlineData(0, -2, 0, 64, "--val")]
    [InlineData(0, 0, -3, 64, "--test")]
    [InlineData(1, 0, 0, 15, "--size")]
    [InlineData(1, 0, 0, 513, "--size")]
    public void Rejects_bad_options_with_a_message_naming_the_value(int train, int val, int test, int size, string named)
    {
        var options = new ShapesWorldOptions { Train = train, Val = val, Test = test, ImageSize = size };
        Should.Throw<AvgException>(() => new ShapesWorld(options)).Message.ShouldContain(named);
    }

    [Fact]
    public void Splits_follow_train_then_val_then_test()
    {
        var world = new ShapesWorld(Small);
        world.SplitOf(39).ShouldBe(Split.Train);
        world.SplitOf(40).ShouldBe(Split.Val);
        world.SplitOf(46).ShouldBe(Split.Test);
        world.FileName(7).ShouldBe("images/000007.png");
    }

    [Fact]
    public void Reports_progress_up_to_the_total()
    {
        using var folder = new TempDirectory();
        var reports = new List<ShapesProgress>();
        var progress = new RecordingProgress(reports);
        new ShapesWorld(Small).Generate(folder.Path, progress: progress);
        lock (reports)
        {
            reports.ShouldContain(new ShapesProgress(Small.Total, Small.Total));
            reports.ShouldAllBe(r => r.Total == Small.Total && r.Done <= r.Total);
        }
    }

    private sealed class RecordingProgress(List<ShapesProgress> reports) : IProgress<ShapesProgress>
    {
        public void Report(ShapesProgress value)
        {
            lock (reports)
            {
                reports.Add(value);
            }
        }
    }

    private static bool Mentions(string text, string phrase) => Regex.IsMatch(text, $@"(?<![\w-]){Regex.Escape(phrase)}(?![\w-])");

    private static Dictionary<string, string> Hashes(string folder) =>
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(folder, f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))));
}
