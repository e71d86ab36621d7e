using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Avg.Deploy.Tests.Support;
using Avg.Tests.Support;

namespace Avg.Deploy.Tests;

/// <summary>
/// The silo images and the compose file start the silo the documented way: <c>dotnet /app/avg-silo.dll</c>,
/// configured only through the env vars of docs/http-api.md. (No Docker engine here: the files are checked, not built.)
/// </summary>
[Trait(TestCategory.Name, TestCategory.Unit)]
public sealed partial class ContainerImageTests
{
    public static TheoryData<string> Dockerfiles => ["Dockerfile", "Dockerfile.gpu"];

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void The_image_runs_avg_silo_dll_as_a_non_root_user(string dockerfile)
    {
        var instructions = Instructions(dockerfile);

        instructions.Last(i => i.Verb == "ENTRYPOINT").Arguments.ShouldBe("[\"dotnet\", \"/app/avg-silo.dll\"]");
        instructions.Count(i => i.Verb == "FROM").ShouldBeGreaterThanOrEqualTo(2, "multi-stage: an SDK build stage and a runtime stage");
        instructions.ShouldContain(i => i.Verb == "RUN" && i.Arguments.StartsWith("dotnet publish src/Avg.Silo -c Release -o /app", StringComparison.Ordinal));
        var user = instructions.Last(i => i.Verb == "USER").Arguments;
        user.ShouldNotBe("root");
        user.ShouldNotBe("0");
        instructions.Single(i => i.Verb == "EXPOSE").Arguments.Split(' ').ShouldBe(["8080", "11111", "30000"]);
        instructions.ShouldContain(i => i.Verb == "VOLUME" && i.Arguments.Contains("/bundle", StringComparison.Ordinal));
        Environment(instructions)["Avg__Bundle"].ShouldBe("/bundle");
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void The_runtime_base_has_a_libstdcxx_with_glibcxx_3_4_32(string dockerfile)
    {
        var text = File.ReadAllText(Path.Combine(Repo.Deploy, dockerfile));

        // Ubuntu 24.04 (noble) ships GCC 14's libstdc++; TorchSharp loads without the Debian 12 patch (docs/torch-backend.md).
        Instructions(dockerfile).Where(i => i.Verb == "FROM").ShouldAllBe(i => i.Arguments.Contains("noble") || i.Arguments.Contains("CUDA_IMAGE"));
        if (dockerfile.EndsWith(".gpu", StringComparison.Ordinal))
        {
            text.ShouldContain("ARG CUDA_IMAGE=nvidia/cuda:");
            text.ShouldContain("-runtime-ubuntu24.04");
        }
    }

    [Fact]
    public void The_gpu_image_builds_the_cuda_backend_and_runs_on_cuda()
    {
        var instructions = Instructions("Dockerfile.gpu");

        instructions.ShouldContain(i => i.Verb == "RUN" && i.Arguments.EndsWith("-p:TorchBackend=cuda", StringComparison.Ordinal));
        Environment(instructions)["Avg__Device"].ShouldBe("cuda");
        Environment(Instructions("Dockerfile"))["Avg__Device"].ShouldBe("cpu");
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void The_image_sets_only_documented_env_vars(string dockerfile)
    {
        var names = Environment(Instructions(dockerfile)).Keys;

        names.ShouldNotBeEmpty();
        names.Except(Contracts.SiloEnvironment()).ShouldBeEmpty();
    }

    [Fact]
    public void Compose_runs_redis_two_model_silos_and_one_partition_silo()
    {
        var services = Compose()["services"]!.AsObject();

        services.Select(s => s.Key).ShouldBe(["redis", "silo-model-1", "silo-model-2", "silo-partitions"], ignoreOrder: true);
        var silos = services.Where(s => s.Key != "redis").Select(s => s.Value!.AsObject()).ToList();
        silos.Count(s => Env(s)["Avg__Roles"] == "model,partitions").ShouldBe(2);
        silos.Count(s => Env(s)["Avg__Roles"] == "partitions").ShouldBe(1);
        foreach (var silo in silos)
        {
            Env(silo)["Avg__Redis"].ShouldBe("redis:6379");
            Env(silo)["Avg__Bundle"].ShouldBe("/bundle");
            silo["volumes"]!.AsArray().Select(v => v!.GetValue<string>()).ShouldContain(v => v.EndsWith(":/bundle:ro", StringComparison.Ordinal));
            silo["build"]!["dockerfile"]!.GetValue<string>().ShouldBe("deploy/Dockerfile");
            silo["ports"]!.AsArray().Single()!.GetValue<string>().ShouldEndWith(":8080");
            silo["depends_on"]!["redis"]!["condition"]!.GetValue<string>().ShouldBe("service_healthy");
        }

        silos.Select(s => s["ports"]![0]!.GetValue<string>()).Distinct().Count().ShouldBe(3, "each silo's HTTP port is published on its own host port");
    }

    [Fact]
    public void Compose_sets_only_documented_env_vars()
    {
        var services = Compose()["services"]!.AsObject();

        var names = services.Where(s => s.Key != "redis").SelectMany(s => Env(s.Value!.AsObject()).Keys).ToHashSet(StringComparer.Ordinal);

        names.Except(Contracts.SiloEnvironment()).ShouldBeEmpty();
    }

    [Fact]
    public void Compose_gives_silos_longer_to_stop_than_orleans_needs_to_shut_down()
    {
        var services = Compose()["services"]!.AsObject();

        foreach (var (_, silo) in services.Where(s => s.Key != "redis"))
        {
            var grace = int.Parse(silo!["stop_grace_period"]!.GetValue<string>().TrimEnd('s'), System.Globalization.CultureInfo.InvariantCulture);
            grace.ShouldBeGreaterThan(int.Parse(Env(silo.AsObject())["Avg__ShutdownSeconds"], System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    [Fact]
    public void Dockerignore_keeps_build_outputs_and_caches_out_of_the_context()
    {
        var lines = File.ReadAllLines(Repo.File(".dockerignore"));

        new[] { "**/bin/", "**/obj/", ".git/", ".cache/" }.ShouldBeSubsetOf(lines);
    }

    private static JsonObject Compose() => Yaml.LoadFile(Path.Combine(Repo.Deploy, "compose.yaml"))!.AsObject();

    private static Dictionary<string, string> Env(JsonObject service) =>
        service["environment"]!.AsObject().ToDictionary(e => e.Key, e => e.Value?.ToString() ?? "", StringComparer.Ordinal);

    private static List<(string Verb, string Arguments)> Instructions(string dockerfile)
    {
        var joined = LineContinuation().Replace(File.ReadAllText(Path.Combine(Repo.Deploy, dockerfile)), " ");
        return [.. joined.Split('\n')
            .Select(line => line.Trim())
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .Select(line => line.Split(' ', 2))
            .Select(parts => (parts[0].ToUpperInvariant(), parts.Length > 1 ? WhiteSpace().Replace(parts[1].Trim(), " ") : ""))];
    }

    private static Dictionary<string, string> Environment(IEnumerable<(string Verb, string Arguments)> instructions) =>
        instructions.Where(i => i.Verb == "ENV")
            .SelectMany(i => i.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(pair => pair.Split('=', 2))
            .ToDictionary(pair => pair[0], pair => pair.Length > 1 ? pair[1] : "", StringComparer.Ordinal);

    [GeneratedRegex(@"\\\r?\n")]
    private static partial Regex LineContinuation();

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhiteSpace();
}
