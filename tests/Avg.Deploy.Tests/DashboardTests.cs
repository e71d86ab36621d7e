using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Avg.Deploy.Tests.Support;
using Avg.Tests.Support;

namespace Avg.Deploy.Tests;

/// <summary>The Grafana dashboard shipped in the chart queries only the metrics docs/metrics.md promises, and all of them.</summary>
[Trait(TestCategory.Name, TestCategory.Unit)]
public sealed partial class DashboardTests
{
    private static readonly string[] HistogramSeries = ["_bucket", "_sum", "_count"];

    private static JsonNode Dashboard => JsonNode.Parse(File.ReadAllText(Path.Combine(Repo.Chart, "dashboards", "avg-cluster.json")))!;

    [Fact]
    public void The_dashboard_is_json_with_unique_panel_ids_and_a_datasource_variable()
    {
        var dashboard = Dashboard;

        dashboard["uid"]!.GetValue<string>().ShouldBe("avg-cluster");
        var ids = dashboard["panels"]!.AsArray().Select(p => p!["id"]!.GetValue<int>()).ToList();
        ids.Distinct().Count().ShouldBe(ids.Count);
        dashboard["templating"]!["list"]!.AsArray().Select(v => v!["name"]!.GetValue<string>()).ShouldContain("datasource");
    }

    [Fact]
    public void The_dashboard_queries_only_metrics_listed_in_docs_metrics_md()
    {
        var contract = Contracts.Metrics();
        contract.Count.ShouldBe(21);

        var unknown = MetricNames(Dashboard).Where(name => Resolve(name, contract) is null).ToList();

        unknown.ShouldBeEmpty($"dashboard metrics not in docs/metrics.md: {string.Join(", ", unknown)}");
    }

    [Fact]
    public void Every_metric_in_docs_metrics_md_has_a_panel()
    {
        var contract = Contracts.Metrics();

        var shown = MetricNames(Dashboard).Select(name => Resolve(name, contract)).OfType<ContractMetric>().ToHashSet();

        contract.Where(metric => !shown.Contains(metric)).Select(m => m.Name).ShouldBeEmpty();
    }

    [Fact]
    public void The_contract_names_follow_prometheus_conventions()
    {
        foreach (var metric in Contracts.Metrics())
        {
            metric.Name.ShouldMatch("^avg_[a-z_]+$");
            if (metric.Name.EndsWith("_total", StringComparison.Ordinal))
            {
                metric.IsHistogram.ShouldBeFalse(metric.Name);
            }
        }

        Contracts.Metrics().Where(m => m.IsHistogram).Select(m => m.Name).ShouldBe(["avg_query_duration_seconds", "avg_model_batch_size"], ignoreOrder: true);
    }

    private static ContractMetric? Resolve(string name, IReadOnlyList<ContractMetric> contract) =>
        contract.FirstOrDefault(m => m.Name == name)
        ?? contract.FirstOrDefault(m => m.IsHistogram && HistogramSeries.Any(suffix => name == m.Name + suffix));

    private static IEnumerable<string> MetricNames(JsonNode? node) => node switch
    {
        JsonObject map => map.SelectMany(entry => MetricNames(entry.Value)),
        JsonArray list => list.SelectMany(MetricNames),
        JsonValue value when value.TryGetValue<string>(out var text) => MetricName().Matches(text).Select(m => m.Value),
        _ => [],
    };

    [GeneratedRegex(@"\bavg_[a-z0-9_]+")]
    private static partial Regex MetricName();
}
