using System.Globalization;
using System.Text.RegularExpressions;

namespace Avg.Cluster.IntegrationTests;

/// <summary>Reads samples from a silo's <c>/metrics</c> (Prometheus text format).</summary>
internal static partial class PrometheusText
{
    /// <summary>Sum of a sample's values (with <c>kind</c> = <paramref name="kind"/> when given); 0 when absent.</summary>
    public static double Sample(string metrics, string name, string? kind = null) =>
        metrics.Split('\n')
            .Select(line => SampleLine().Match(line))
            .Where(m => m.Success && m.Groups["name"].Value == name && (kind is null || m.Groups["labels"].Value.Contains($"kind=\"{kind}\"", StringComparison.Ordinal)))
            .Sum(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex(@"^(?<name>[a-z_]+)(\{(?<labels>[^}]*)\})?\s+(?<value>[0-9.eE+-]+)")]
    private static partial Regex SampleLine();
}
