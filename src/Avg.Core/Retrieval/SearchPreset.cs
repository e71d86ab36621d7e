namespace Avg.Retrieval;

/// <summary>
/// Named search settings. <see cref="Default"/> is what measures best on the validation splits; <see cref="Paper"/> is
/// the paper's, so that its configuration and the ablations stay reproducible (docs/training.md, "Presets").
/// </summary>
public enum SearchPreset
{
    /// <summary>The paper's score with the train frequencies divided out at <see cref="VokenPrior.DefaultWeight"/>, where the bundle records them.</summary>
    Default,

    /// <summary>The paper's score: the sum of the generator's log-probabilities (α = 0).</summary>
    Paper,
}

/// <summary>Names and settings of <see cref="SearchPreset"/>.</summary>
public static class SearchPresets
{
    /// <summary>The names <see cref="Parse"/> takes, for help texts and errors.</summary>
    public const string Names = "default or paper";

    /// <summary>The preset named <paramref name="name"/> (null or empty is <see cref="SearchPreset.Default"/>); <paramref name="where"/> names the setting in the error.</summary>
    public static SearchPreset Parse(string? name, string where) => name?.Trim().ToUpperInvariant() switch
    {
        null or "" or "DEFAULT" => SearchPreset.Default,
        "PAPER" => SearchPreset.Paper,
        _ => throw new AvgException($"{where} '{name}': expected {Names}"),
    };

    /// <summary>The name <see cref="Parse"/> reads back, as reports and bundles record it.</summary>
    public static string Name(this SearchPreset preset) => preset == SearchPreset.Paper ? "paper" : "default";

    /// <summary>α of <see cref="VokenPrior"/> where none is given.</summary>
    public static double PriorWeight(this SearchPreset preset) => preset == SearchPreset.Paper ? 0 : VokenPrior.DefaultWeight;
}
