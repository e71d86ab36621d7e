using System.Text.Json.Nodes;
using Avg.Deploy.Tests.Support;
using Avg.Tests.Support;
using Json.Schema;

namespace Avg.Deploy.Tests;

/// <summary>
/// values.schema.json accepts the defaults and sensible overrides, and rejects what <c>helm install -f</c> should
/// refuse. Override files live in ValuesFiles/{valid,invalid} and are merged onto values.yaml as Helm merges them.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Unit)]
public sealed class ChartSchemaTests
{
    private static readonly string ValuesFiles = Repo.File("tests", "Avg.Deploy.Tests", "ValuesFiles");

    public static TheoryData<string> ValidFiles => Files("valid");

    public static TheoryData<string> InvalidFiles => Files("invalid");

    [Fact]
    public void The_schema_is_a_valid_draft_7_schema()
    {
        var result = MetaSchemas.Draft7.Evaluate(JsonNode.Parse(HelmChart.SchemaText), new EvaluationOptions { OutputFormat = OutputFormat.List });

        result.IsValid.ShouldBeTrue(Errors(result));
        JsonNode.Parse(HelmChart.SchemaText)!["$schema"]!.GetValue<string>().ShouldBe("http://json-schema.org/draft-07/schema#");
    }

    [Fact]
    public void Default_values_validate()
    {
        var result = Evaluate(HelmChart.Values);

        result.IsValid.ShouldBeTrue(Errors(result));
    }

    [Theory]
    [MemberData(nameof(ValidFiles))]
    public void Overrides_that_make_sense_validate(string file)
    {
        var result = Evaluate(WithOverride(file));

        result.IsValid.ShouldBeTrue($"{file}: {Errors(result)}");
    }

    [Theory]
    [MemberData(nameof(InvalidFiles))]
    public void Overrides_that_cannot_work_are_rejected(string file)
    {
        var result = Evaluate(WithOverride(file));

        result.IsValid.ShouldBeFalse($"{file} should be rejected by values.schema.json");
    }

    [Fact]
    public void Every_object_the_chart_defines_rejects_unknown_keys()
    {
        var schema = JsonNode.Parse(HelmChart.SchemaText)!;
        var values = HelmChart.Values;

        // Pass-through Kubernetes objects (resources, affinity, labels, security contexts) stay open; chart-defined groups do not.
        foreach (var group in new[] { "", "image", "cluster", "modelSilos", "modelSilos.gpu", "partitionSilos", "bundle", "bundle.initContainer",
                     "redis", "redis.persistence", "externalRedis", "apiKeys", "rateLimit", "service", "serviceAccount", "rbac", "probes",
                     "networkPolicy", "serviceMonitor", "grafanaDashboard" })
        {
            var withTypo = (JsonObject)values.DeepClone();
            HelmChart.TryGet(withTypo, group, out var target).ShouldBeTrue(group);
            (group.Length == 0 ? withTypo : (JsonObject)target!)["notAValue"] = 1;
            Evaluate(withTypo).IsValid.ShouldBeFalse($"an unknown key under '{group}' should be rejected");
        }

        schema["additionalProperties"]!.GetValue<bool>().ShouldBeFalse();
    }

    private static EvaluationResults Evaluate(JsonNode values) =>
        JsonSchema.FromText(HelmChart.SchemaText).Evaluate(values, new EvaluationOptions { OutputFormat = OutputFormat.List });

    private static JsonNode WithOverride(string file) =>
        Yaml.Merge(HelmChart.Values, Yaml.LoadFile(Path.Combine(ValuesFiles, file)))!;

    private static string Errors(EvaluationResults result) =>
        string.Join("; ", (result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}")));

    private static TheoryData<string> Files(string kind)
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(Path.Combine(ValuesFiles, kind), "*.yaml").Order(StringComparer.Ordinal))
        {
            data.Add(Path.Combine(kind, Path.GetFileName(file)));
        }

        return data;
    }
}
