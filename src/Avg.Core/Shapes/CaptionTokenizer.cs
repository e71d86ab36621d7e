namespace Avg.Shapes;

/// <summary>Karpathy-style tokens: lower-case words, punctuation dropped, hyphenated words kept whole.</summary>
internal static class CaptionTokenizer
{
    public static List<string> Tokenize(string raw)
    {
        var tokens = new List<string>();
        var start = -1;
        for (var i = 0; i <= raw.Length; i++)
        {
            var inWord = i < raw.Length && (char.IsLetterOrDigit(raw[i]) || (raw[i] == '-' && start >= 0));
            if (inWord && start < 0)
            {
                start = i;
            }
            else if (!inWord && start >= 0)
            {
                tokens.Add(raw[start..i].Trim('-').ToLowerInvariant());
                start = -1;
            }
        }

        return tokens;
    }
}
