using Avg.Deploy.Tests.Support;
using Avg.Tests.Support;

namespace Avg.Deploy.Tests;

/// <summary>The chart README documents every value with its default (helm-docs style, generated from values.yaml).</summary>
[Trait(TestCategory.Name, TestCategory.Unit)]
public sealed class ChartReadmeTests
{
    private static readonly string ReadmePath = Path.Combine(Repo.Chart, "README.md");

    [Fact]
    public void Every_value_is_under_a_documented_key()
    {
        var documented = ValuesDocumentation.Read(HelmChart.ValuesText, HelmChart.Values).Select(v => v.Key).ToList();

        var undocumented = HelmChart.LeafPaths(HelmChart.Values)
            .Where(leaf => !documented.Any(key => leaf == key || leaf.StartsWith(key + ".", StringComparison.Ordinal)))
            .ToList();
        undocumented.ShouldBeEmpty($"values without a '# --' description: {string.Join(", ", undocumented)}");
    }

    [Fact]
    public void The_readme_values_table_is_generated_from_values_yaml()
    {
        var table = ValuesDocumentation.RenderTable(ValuesDocumentation.Read(HelmChart.ValuesText, HelmChart.Values));
        var readme = File.ReadAllText(ReadmePath);
        var expected = ValuesDocumentation.WithTable(readme, table);

        if (Environment.GetEnvironmentVariable("AVG_UPDATE_CHART_README") == "1" && expected != readme)
        {
            File.WriteAllText(ReadmePath, expected);
            readme = expected;
        }

        readme.ShouldBe(expected, "helm/avg-cluster/README.md's values table is stale: run the chart tests with AVG_UPDATE_CHART_README=1");
    }

    [Fact]
    public void The_readme_names_every_value_with_its_default()
    {
        var readme = File.ReadAllText(ReadmePath);

        foreach (var value in ValuesDocumentation.Read(HelmChart.ValuesText, HelmChart.Values))
        {
            readme.ShouldContain($"| `{value.Key}` | {value.Type} | `{value.Default.Replace("|", "\\|", StringComparison.Ordinal)}` |");
        }
    }
}
