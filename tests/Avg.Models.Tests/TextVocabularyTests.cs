using Avg.Models.Text;
using Avg.Tests.Support;

namespace Avg.Models.Tests;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class TextVocabularyTests
{
    private static readonly string[] Training = ["A red circle", "a red square", "A blue circle", "a green square"];

    [Fact]
    public void Known_words_get_compact_ids_and_unseen_ones_unk()
    {
        var vocabulary = TextVocabulary.Build(Training, new TextVocabularyOptions { MinCount = 1, MaxLength = 8 });

        var row = vocabulary.Encode("A RED zebra");

        row.Length.ShouldBe(8);
        row.ShouldAllBe(id => id >= 0 && id < vocabulary.Size);
        row[0].ShouldBeGreaterThan(TextVocabulary.UnkId);      // "a", lowercased
        row.ShouldContain(TextVocabulary.UnkId);               // "zebra" never seen
        row[^1].ShouldBe(TextVocabulary.PadId);
        vocabulary.Encode("a red circle").ShouldBe(vocabulary.Encode("A Red Circle"));
    }

    [Fact]
    public void Min_count_drops_rare_tokens()
    {
        var vocabulary = TextVocabulary.Build(Training, new TextVocabularyOptions { MinCount = 2, MaxLength = 8 });

        vocabulary.Tokens("a blue")[1].ShouldBe(TextVocabulary.UnkId);
        vocabulary.Tokens("a red").ShouldNotContain(TextVocabulary.UnkId);
    }

    [Fact]
    public void Long_text_is_truncated_to_max_length()
    {
        var vocabulary = TextVocabulary.Build(Training, new TextVocabularyOptions { MinCount = 1, MaxLength = 3 });

        vocabulary.Encode("a red circle a red square").ShouldBe(vocabulary.Tokens("a red circle"));
    }

    [Fact]
    public void Save_then_load_gives_the_same_ids_and_hash()
    {
        var vocabulary = TextVocabulary.Build(Training, new TextVocabularyOptions { MinCount = 1, MaxLength = 6 });
        var path = Path.Combine(Path.GetTempPath(), $"vocab-{Guid.NewGuid():N}.json");
        try
        {
            vocabulary.Save(path);
            var loaded = TextVocabulary.Load(path);

            loaded.Hash.ShouldBe(vocabulary.Hash);
            loaded.Size.ShouldBe(vocabulary.Size);
            loaded.EncodeMany(Training).ShouldBe(vocabulary.EncodeMany(Training));
            TextVocabulary.Build(Training, new TextVocabularyOptions { MinCount = 1, MaxLength = 6 }).Hash.ShouldBe(vocabulary.Hash);
            TextVocabulary.Build(Training, new TextVocabularyOptions { MinCount = 1, MaxLength = 7 }).Hash.ShouldNotBe(vocabulary.Hash);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_damaged_file_is_reported_with_its_path()
    {
        var path = Path.Combine(Path.GetTempPath(), $"vocab-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, "{ not json");
            Should.Throw<DataFormatException>(() => TextVocabulary.Load(path)).Message.ShouldContain(path);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
