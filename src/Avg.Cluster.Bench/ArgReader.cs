using System.Globalization;
using Avg;

/// <summary>The benchmark's `--name value` options: one reader for every command, errors as one line naming the option.</summary>
internal sealed class ArgReader(string[] args)
{
    public string? Value(string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    public int Int(string name, int fallback) =>
        Value(name) is { } v ? int.TryParse(v, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new AvgException($"{name} must be a positive integer, got '{v}'") : fallback;

    public string Bundle() => Value("--bundle") ?? throw new AvgException("--bundle DIR is required (a bundle trained with the built-in encoder, `avg train --out DIR`)");

    public string Data() => Value("--data") ?? throw new AvgException("--data DIR is required (the Karpathy-format dataset the bundle was trained on, e.g. `avg data shapes`)");
}
