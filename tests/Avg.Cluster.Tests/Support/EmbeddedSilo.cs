using System.Net.Http.Json;
using Avg.Client;
using Avg.Cluster.Hosting;
using Avg.Silo;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace Avg.Cluster.Tests.Support;

/// <summary>The real silo host (embedded: one silo, in-memory storage) on free loopback ports, with an HTTP client for it.</summary>
public sealed class EmbeddedSilo : IAsyncDisposable
{
    private EmbeddedSilo(WebApplication app, HttpClient http, AvgSiloOptions options)
    {
        App = app;
        Http = http;
        Options = options;
    }

    public WebApplication App { get; }

    public HttpClient Http { get; }

    public AvgSiloOptions Options { get; }

    public static async Task<EmbeddedSilo> StartAsync(string bundle, string? apiKeys = null, int shards = 2, double? priorWeight = 0, double? collisionWeight = null, Action<AvgSiloOptions>? configure = null, Action<WebApplicationBuilder>? host = null)
    {
        var ports = LoopbackPorts.Take(3);
        var options = new AvgSiloOptions
        {
            Bundle = bundle, SiloPort = ports[0], GatewayPort = ports[1], HttpPort = ports[2], Device = "cpu", Threads = 1,
            ApiKeys = apiKeys, Shards = shards, PriorWeight = priorWeight, CollisionWeight = collisionWeight, ServiceId = "avg-test", ClusterId = "avg-test-" + ports[0],
        };
        configure?.Invoke(options);
        var app = AvgSiloHost.Build(options, configure: b =>
        {
            b.Logging.SetMinimumLevel(LogLevel.Warning);
            host?.Invoke(b);
        });
        await app.StartAsync();
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{options.HttpPort}") };
        var silo = new EmbeddedSilo(app, http, options);
        await silo.WaitReadyAsync(TimeSpan.FromSeconds(60));
        return silo;
    }

    public Task WaitReadyAsync(TimeSpan timeout) =>
        new AvgSearchClient(Http.BaseAddress!).WaitUntilReadyAsync(timeout, TimeSpan.FromMilliseconds(100));

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
