using System.Text.Json.Nodes;
using Avg.Deploy.Tests.Support;
using Avg.Tests.Support;

namespace Avg.Deploy.Tests;

/// <summary>Every chart file parses: Chart.yaml, values.yaml, and each template's YAML once its actions are stripped.</summary>
[Trait(TestCategory.Name, TestCategory.Unit)]
public sealed class ChartFilesTests
{
    public static TheoryData<string> TemplateFiles =>
        [.. HelmChart.Templates.Keys.Where(name => name.EndsWith(".yaml", StringComparison.Ordinal))];

    [Fact]
    public void Chart_yaml_names_a_v2_application_chart()
    {
        var chart = Yaml.LoadFile(Path.Combine(Repo.Chart, "Chart.yaml"))!;

        chart["apiVersion"]!.GetValue<string>().ShouldBe("v2");
        chart["name"]!.GetValue<string>().ShouldBe("avg-cluster");
        chart["type"]!.GetValue<string>().ShouldBe("application");
        chart["version"]!.GetValue<string>().ShouldMatch(@"^[0-9]+\.[0-9]+\.[0-9]+$");
        chart["appVersion"]!.GetValue<string>().ShouldNotBeNullOrWhiteSpace();
    }

    [Fact]
    public void Values_yaml_parses_to_a_map()
    {
        HelmChart.Values.Count.ShouldBeGreaterThan(10);
    }

    [Theory]
    [MemberData(nameof(TemplateFiles))]
    public void Template_parses_as_yaml_once_its_actions_are_stripped(string template)
    {
        var skeleton = HelmChart.StripActions(HelmChart.Templates[template]);

        var documents = Yaml.LoadAll(skeleton);

        documents.ShouldNotBeEmpty();
        foreach (var document in documents.OfType<JsonObject>())
        {
            document["apiVersion"].ShouldNotBeNull(template);
            document["kind"].ShouldNotBeNull(template);
            document["metadata"]!["name"].ShouldNotBeNull(template);
        }
    }

    [Fact]
    public void Helper_fragments_parse_as_yaml_once_their_actions_are_stripped()
    {
        var defines = HelmChart.Defines(HelmChart.Templates["_helpers.tpl"]);

        defines.Keys.ShouldContain("avg-cluster.fullname");
        defines.Keys.ShouldContain("avg-cluster.siloEnv");
        defines.Keys.ShouldContain("avg-cluster.siloContainerCommon");
        foreach (var (name, body) in defines)
        {
            Should.NotThrow(() => Yaml.LoadAll(HelmChart.StripActions(body)), name);
        }
    }

    [Fact]
    public void The_chart_ships_every_kind_of_object_it_promises()
    {
        var kinds = HelmChart.Templates.Where(t => t.Key.EndsWith(".yaml", StringComparison.Ordinal)).Select(t => t.Value)
            .SelectMany(t => Yaml.LoadAll(HelmChart.StripActions(t)).OfType<JsonObject>())
            .Select(d => d["kind"]!.GetValue<string>())
            .ToHashSet(StringComparer.Ordinal);

        new[] { "Deployment", "StatefulSet", "Service", "PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor", "ConfigMap",
            "Secret", "ServiceAccount", "Role", "RoleBinding" }.ShouldBeSubsetOf(kinds);
    }
}
