using System.Text.RegularExpressions;

namespace Avg.Deploy.Tests.Support;

/// <summary>A metric of docs/metrics.md: its Prometheus name and whether it is a histogram.</summary>
public sealed record ContractMetric(string Name, bool IsHistogram);

/// <summary>The contracts in docs/ that the images, compose file, chart and dashboard are held to.</summary>
public static partial class Contracts
{
    /// <summary>Environment variables of docs/http-api.md: every backticked name in the first column of the tables under "Silo configuration".</summary>
    public static IReadOnlySet<string> SiloEnvironment()
    {
        var text = Repo.Read("docs", "http-api.md");
        var section = text.IndexOf("## Silo configuration", StringComparison.Ordinal);
        section.ShouldBeGreaterThanOrEqualTo(0, "docs/http-api.md has no 'Silo configuration' section");
        return text[section..].Split('\n')
            .Where(line => line.StartsWith('|'))
            .Select(line => line.Split('|')[1])
            .SelectMany(cell => BacktickedName().Matches(cell).Select(m => m.Groups[1].Value))
            .ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>Metrics of docs/metrics.md: rows of the table whose header starts with "Prometheus name".</summary>
    public static IReadOnlyList<ContractMetric> Metrics()
    {
        var lines = Repo.Read("docs", "metrics.md").Split('\n');
        var header = Array.FindIndex(lines, line => line.StartsWith("| Prometheus name", StringComparison.Ordinal));
        header.ShouldBeGreaterThanOrEqualTo(0, "docs/metrics.md has no metrics table");
        return [.. lines.Skip(header + 2)
            .TakeWhile(line => line.StartsWith('|'))
            .Select(line => line.Split('|'))
            .Select(cells => new ContractMetric(
                BacktickedName().Match(cells[1]).Groups[1].Value,
                cells[3].Contains("Histogram", StringComparison.Ordinal)))];
    }

    [GeneratedRegex(@"`([A-Za-z_][A-Za-z0-9_]*)`")]
    private static partial Regex BacktickedName();
}
