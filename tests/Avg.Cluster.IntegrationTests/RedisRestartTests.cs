using System.Diagnostics;
using System.Globalization;
using Avg.Client;
using Avg.Cluster.Hosting;
using Avg.Cluster.Testing;
using Avg.Data;
using Avg.Tests.Support;
using Xunit.Abstractions;

namespace Avg.Cluster.IntegrationTests;

/// <summary>
/// redis-server with an append-only file fsynced on every write, killed (-9) during ingest and started again on the
/// same file while two silo processes keep running: the silos reconnect without a restart, ingest resumes, and every
/// image acknowledged before, during and after the outage is in Redis — read back by a fresh silo after the first two
/// have stopped.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public sealed class RedisRestartTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _logs = new();
    private readonly TempDirectory _aof = new();
    private readonly List<ChildProcess> _processes = [];

    [Fact]
    public async Task Redis_restarted_with_aof_during_ingest_keeps_every_acknowledged_image_and_the_silos_reconnect()
    {
        var total = Stopwatch.StartNew();
        var bundle = TinyShapesBundle.Ensure();
        var dataset = TinyShapesBundle.Dataset();
        var ports = LoopbackPorts.Take(7);
        var redisPort = ports[0];
        var redis = await ChildProcess.StartRedisAsync(redisPort, _logs.Path, _aof.Path);
        _processes.Add(redis);

        var clusterId = "aof-" + Guid.NewGuid().ToString("N")[..8];
        var silos = new ChildProcess[2];
        for (var s = 0; s < 2; s++)
        {
            silos[s] = StartSilo($"silo{s}", bundle, redisPort, clusterId, ports[1 + (3 * s)], ports[2 + (3 * s)], ports[3 + (3 * s)]);
        }

        using var ingest = new AcknowledgedIngest([ports[3], ports[6]], TimeSpan.FromSeconds(60));
        var clients = ingest.Clients;
        foreach (var client in clients)
        {
            await client.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
        }

        var images = dataset.Images.Where(i => i.Split == Split.Test)
            .Select(i => ImageToIndex.FromImage(i.Index.ToString(CultureInfo.InvariantCulture), File.ReadAllBytes(dataset.ImagePath(i))))
            .ToArray();
        var killedAt = TimeSpan.MaxValue;
        var restartedAt = TimeSpan.Zero;
        var clock = Stopwatch.StartNew();
        Task? outage = null;
        await ingest.RunAsync(images.Chunk(5), batch =>
        {
            if (batch == 3)
            {
                // Redis dies while batch 4 is being written (writes whose answer is lost) and is back 2 s later.
                outage = Task.Run(async () =>
                {
                    await Task.Delay(30);
                    redis.KillHard();
                    await redis.WaitForExitAsync(TimeSpan.FromSeconds(10));
                    killedAt = clock.Elapsed;
                    await Task.Delay(TimeSpan.FromSeconds(2));
                    redis = await ChildProcess.StartRedisAsync(redisPort, _logs.Path, _aof.Path, "redis-restarted");
                    restartedAt = clock.Elapsed;
                });
            }

            return Task.CompletedTask;
        });
        await outage!;
        _processes.Add(redis);

        foreach (var line in ingest.Failures)
        {
            output.WriteLine("  " + line);
        }

        var resumedAt = ingest.AcknowledgedAt.First(t => t > killedAt);
        output.WriteLine($"redis killed at {killedAt.TotalSeconds:F2}s, restarted at {restartedAt.TotalSeconds:F2}s; first batch acknowledged after it at {resumedAt.TotalSeconds:F2}s; " +
            $"{ingest.Acknowledged.Count} images acknowledged; {ingest.RefusedAttempts} attempts refused (503) and sent again by the SDK, {ingest.FailedAttempts} SDK calls sent again by the client");
        restartedAt.ShouldBeGreaterThan(TimeSpan.Zero);
        // Ingest met the outage: a batch was refused (503, or no answer) and sent again, or a batch sent before Redis
        // was back was held by the silo until it was (the Redis client queues writes while it reconnects).
        var heldAcrossOutage = ingest.SentAt.Zip(ingest.AcknowledgedAt).Any(b => b.First < restartedAt && b.Second > restartedAt);
        (ingest.RefusedAttempts > 0 || heldAcrossOutage).ShouldBeTrue("ingest met the outage");
        resumedAt.ShouldBeGreaterThan(restartedAt, "the batch sent into the outage was acknowledged once Redis was back");
        ingest.Acknowledged.Count.ShouldBe(images.Length);
        silos.ShouldAllBe(s => !s.HasExited, "the silos reconnected without a restart");
        (await IndexCheck.MismatchAsync(clients[0], ingest.Acknowledged)).ShouldBeNull();
        (await clients[1].SearchAsync(dataset.Images.First(i => i.Split == Split.Test).Captions[0])).Results.ShouldNotBeEmpty();

        // Durability: the silos stop; a fresh silo reads the index back from the restarted Redis alone.
        foreach (var silo in silos)
        {
            silo.Terminate();
        }

        foreach (var silo in silos)
        {
            (await silo.WaitForExitAsync(TimeSpan.FromSeconds(30))).ShouldBe(0, silo.Tail());
        }

        // Its ports are taken now, not at the start: a port free a minute ago may since be another connection's
        // ephemeral source port, and the silo would then fail to bind.
        var freshPorts = LoopbackPorts.Take(3);
        StartSilo("silo-fresh", bundle, redisPort, clusterId, freshPorts[0], freshPorts[1], freshPorts[2]);
        using var reader = new AcknowledgedIngest([freshPorts[2]], TimeSpan.Zero);
        var fresh = reader.Clients[0];
        await fresh.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
        (await IndexCheck.MismatchAsync(fresh, ingest.Acknowledged)).ShouldBeNull("a fresh silo finds every acknowledged image in Redis");
        output.WriteLine($"a fresh silo read all {ingest.Acknowledged.Count} acknowledged images back from Redis; test took {total.Elapsed.TotalSeconds:F1}s");
    }

    public void Dispose()
    {
        foreach (var process in _processes.Where(p => p.Name.StartsWith("silo", StringComparison.Ordinal)))
        {
            output.WriteLine($"--- {process.Name} (last lines) ---\n{process.Tail(40)}");
        }

        foreach (var process in Enumerable.Reverse(_processes))
        {
            process.Dispose();
        }

        _logs.Dispose();
        _aof.Dispose();
    }

    private ChildProcess StartSilo(string name, string bundle, int redisPort, string clusterId, int siloPort, int gatewayPort, int httpPort)
    {
        var env = SiloEnvironment.For(bundle, redisPort, clusterId, siloPort, gatewayPort, httpPort);
        var silo = ChildProcess.Start(name, "dotnet", [Locations.SiloDll()], env, _logs.Path);
        _processes.Add(silo);
        return silo;
    }
}
