using Avg.Deploy.Tests.Support;
using Avg.Tests.Support;

namespace Avg.Deploy.Tests;

/// <summary>values.yaml and the templates agree: nothing used is missing, nothing defined is dead.</summary>
[Trait(TestCategory.Name, TestCategory.Unit)]
public sealed class ChartValuesTests
{
    [Fact]
    public void Every_value_path_a_template_uses_exists_in_values_yaml()
    {
        var values = HelmChart.Values;
        var used = HelmChart.UsedValuePaths();

        used.ShouldNotBeEmpty();
        var missing = used.Where(path => !HelmChart.TryGet(values, path, out _)).Order(StringComparer.Ordinal).ToList();
        missing.ShouldBeEmpty($"templates use values that values.yaml does not define: {string.Join(", ", missing)}");
    }

    [Fact]
    public void Every_value_in_values_yaml_is_used_by_a_template()
    {
        var used = HelmChart.UsedValuePaths();

        var unused = HelmChart.LeafPaths(HelmChart.Values)
            .Where(leaf => !used.Any(path => leaf == path || leaf.StartsWith(path + ".", StringComparison.Ordinal)))
            .ToList();
        unused.ShouldBeEmpty($"values.yaml defines values no template reads: {string.Join(", ", unused)}");
    }

    [Fact]
    public void Default_grace_period_outlasts_orleans_shutdown_and_the_prestop_pause()
    {
        var cluster = HelmChart.Values["cluster"]!;
        var grace = (long)cluster["terminationGracePeriodSeconds"]!;
        var needed = (long)cluster["shutdownSeconds"]! + (long)cluster["preStopSleepSeconds"]!;

        grace.ShouldBeGreaterThan(needed);
    }

    [Fact]
    public void Rendering_fails_when_the_grace_period_does_not_outlast_shutdown()
    {
        var validate = HelmChart.Defines(HelmChart.Templates["_helpers.tpl"])["avg-cluster.validate"];

        validate.ShouldContain(".Values.cluster.terminationGracePeriodSeconds");
        validate.ShouldContain(".Values.cluster.shutdownSeconds");
        validate.ShouldContain(".Values.cluster.preStopSleepSeconds");
        validate.ShouldContain("{{- if le $grace (int $needed) }}");
        validate.ShouldContain("fail (printf \"cluster.terminationGracePeriodSeconds");
        HelmChart.Templates["model-silos.yaml"].ShouldStartWith("{{- include \"avg-cluster.validate\" . }}");
    }

    [Theory]
    [InlineData("model-silos.yaml", "model-silo")]
    [InlineData("partition-silos.yaml", "partition-silo")]
    public void Silo_deployments_keep_capacity_probe_health_and_shut_down_gracefully(string template, string component)
    {
        var text = HelmChart.Templates[template];

        text.ShouldContain("kind: Deployment");
        text.ShouldContain($"app.kubernetes.io/component: {component}");
        text.ShouldContain("type: RollingUpdate");
        text.ShouldContain("maxUnavailable: 0");
        text.ShouldContain("terminationGracePeriodSeconds: {{ .Values.cluster.terminationGracePeriodSeconds }}");
        text.ShouldContain("{{- include \"avg-cluster.siloContainerCommon\" . | nindent 10 }}");
        text.ShouldContain("{{- include \"avg-cluster.siloEnv\" . | nindent 12 }}");
        foreach (var passedThrough in new[] { "nodeSelector", "affinity", "tolerations", "topologySpreadConstraints" })
        {
            text.ShouldContain($"{{{{- with .Values.{(component == "model-silo" ? "modelSilos" : "partitionSilos")}.{passedThrough} }}}}");
        }

        var common = HelmChart.Defines(HelmChart.Templates["_helpers.tpl"])["avg-cluster.siloContainerCommon"];
        common.ShouldContain("path: /health/live");
        common.ShouldContain("path: /health/ready");
        common.ShouldContain("preStop:");
    }

    [Fact]
    public void Model_silos_request_gpus_and_carry_the_bundle()
    {
        var text = HelmChart.Templates["model-silos.yaml"];
        var gpu = HelmChart.Values["modelSilos"]!["gpu"]!;

        ((string)gpu["resourceName"]!).ShouldBe("nvidia.com/gpu");
        text.ShouldContain("set $limits .Values.modelSilos.gpu.resourceName .Values.modelSilos.gpu.count");
        text.ShouldContain("mountPath: /bundle");
        text.ShouldContain("readOnly: true");
        HelmChart.EnvNames(text).ShouldContain("Avg__Bundle");
        ((string)HelmChart.Values["modelSilos"]!["roles"]!).ShouldBe("model,partitions");
    }

    [Fact]
    public void Partition_silos_take_only_the_partitions_role_on_cpu()
    {
        var skeleton = Yaml.Load(HelmChart.StripActions(HelmChart.Templates["partition-silos.yaml"]))!;
        var env = skeleton["spec"]!["template"]!["spec"]!["containers"]![0]!["env"]!.AsArray();

        env.Single(e => (string)e!["name"]! == "Avg__Roles")!["value"]!.GetValue<string>().ShouldBe("partitions");
        env.Single(e => (string)e!["name"]! == "Avg__Device")!["value"]!.GetValue<string>().ShouldBe("cpu");
        HelmChart.Templates["partition-silos.yaml"].ShouldNotContain("nvidia.com/gpu");
    }

    [Fact]
    public void Silos_advertise_the_pod_ip_and_carry_the_orleans_kubernetes_labels()
    {
        var defines = HelmChart.Defines(HelmChart.Templates["_helpers.tpl"]);
        var env = Yaml.Load(HelmChart.StripActions(defines["avg-cluster.siloEnv"]))!.AsArray();

        env.Single(e => (string)e!["name"]! == "POD_IP")!["valueFrom"]!["fieldRef"]!["fieldPath"]!.GetValue<string>().ShouldBe("status.podIP");
        env.Single(e => (string)e!["name"]! == "Avg__AdvertisedIp")!["value"]!.GetValue<string>().ShouldBe("$(POD_IP)");
        var podIp = env.Select(e => (string)e!["name"]!).ToList();
        podIp.IndexOf("POD_IP").ShouldBeLessThan(podIp.IndexOf("Avg__AdvertisedIp"), "$(POD_IP) only expands when POD_IP comes first");
        defines["avg-cluster.siloLabels"].ShouldContain("orleans/serviceId:");
        defines["avg-cluster.siloLabels"].ShouldContain("orleans/clusterId:");
        HelmChart.Templates["rbac.yaml"].ShouldContain("verbs: [\"get\", \"list\", \"watch\"]");
    }

    [Fact]
    public void Env_vars_the_chart_sets_are_the_ones_docs_http_api_md_lists()
    {
        var contract = Contracts.SiloEnvironment();
        var set = HelmChart.Templates.Values.SelectMany(HelmChart.EnvNames).ToHashSet(StringComparer.Ordinal);

        set.Except(contract).ShouldBeEmpty("the chart sets env vars that docs/http-api.md does not list");
        new[] { "Avg__Redis", "Avg__Roles", "Avg__Device", "Avg__Bundle", "Avg__ApiKeys", "Avg__ShutdownSeconds",
            "Avg__AdvertisedIp", "Avg__ClusterId", "Avg__ServiceId", "Avg__HttpPort", "Avg__SiloPort", "Avg__GatewayPort",
            "POD_NAME", "POD_NAMESPACE", "POD_IP" }.ShouldBeSubsetOf(set);
    }

    [Fact]
    public void Access_control_values_reach_the_silos_and_protect_the_pages_by_default()
    {
        var defines = HelmChart.Defines(HelmChart.Templates["_helpers.tpl"]);
        var env = defines["avg-cluster.siloEnv"];
        foreach (var (name, value) in new[]
                 {
                     ("Avg__ReadKeyHashes", ".Values.apiKeys.readKeyHashes"), ("Avg__WriteKeyHashes", ".Values.apiKeys.writeKeyHashes"),
                     ("Avg__ProtectPages", ".Values.apiKeys.protectPages"), ("Avg__RateLimitRequests", ".Values.rateLimit.requests"),
                     ("Avg__RateLimitWindowSeconds", ".Values.rateLimit.windowSeconds"), ("Avg__MaxRequestBytes", ".Values.maxRequestBytes"),
                 })
        {
            env.ShouldContain($"name: {name}");
            env.ShouldContain(value);
        }

        HelmChart.Values["apiKeys"]!["protectPages"]!.GetValue<bool>().ShouldBeTrue("the chart protects the pages, dashboard and metrics by default");
        ((long)HelmChart.Values["maxRequestBytes"]!).ShouldBe(1000L * 32 * 1024, "a full ingest batch of 32 KiB images, as Avg__MaxRequestBytes defaults to");
        HelmChart.Templates["servicemonitor.yaml"].ShouldContain(".Values.serviceMonitor.keySecret");
        HelmChart.Templates["servicemonitor.yaml"].ShouldContain("type: Bearer");
        File.ReadAllText(Path.Combine(Repo.Chart, "README.md")).ShouldContain("TLS is the ingress's job");
    }

    [Fact]
    public void The_dashboard_configmap_reads_the_dashboard_file_shipped_in_the_chart()
    {
        var text = HelmChart.Templates["grafana-dashboard.yaml"];

        text.ShouldContain(".Files.Get \"dashboards/avg-cluster.json\"");
        File.Exists(Path.Combine(Repo.Chart, "dashboards", "avg-cluster.json")).ShouldBeTrue();
    }
}
