using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Avg.Cluster.Grains;
using Avg.Cluster.Hosting;
using Avg.Cluster.Inference;
using Avg.Cluster.Storage;
using Avg.Silo.Http;
using Avg.Silo.Pages;
using Avg.Silo.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using StackExchange.Redis;

namespace Avg.Silo;

/// <summary>
/// Builds and runs the AVG silo host: an Orleans silo (Redis clustering and storage, or embedded) with the AVG grains
/// and the HTTP API of docs/http-api.md. `avg-silo` runs it; `avg serve` and tests run the same host in-process.
/// </summary>
public static class AvgSiloHost
{
    /// <summary>How long shutdown waits for Redis to answer a PING before taking it as gone.</summary>
    private static readonly TimeSpan RedisProbeTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Binds <see cref="AvgSiloOptions"/> from the <c>Avg</c> section (environment <c>Avg__*</c>, <c>--Avg:Name=value</c>).</summary>
    public static AvgSiloOptions ReadOptions(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = new AvgSiloOptions();
        try
        {
            configuration.GetSection(AvgSiloOptions.Section).Bind(options);
        }
        catch (InvalidOperationException e)
        {
            throw new AvgException($"Silo configuration: {e.Message} (check the Avg__* settings).", e);
        }

        return options;
    }

    /// <summary>
    /// A ready-to-run host for <paramref name="options"/> (validated here). <paramref name="args"/> are passed to the
    /// web host (configuration, logging); <paramref name="configure"/> may adjust the builder (tests add logging).
    /// </summary>
    public static WebApplication Build(AvgSiloOptions options, string[]? args = null, Action<WebApplicationBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args ?? [] });
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.ListenAnyIP(options.HttpPort);
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBytes;
        });
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(options.ShutdownSeconds));
        builder.UseOrleans(silo => ConfigureSilo(silo, options));
        builder.Services.AddAvgHttpApi(options);
        builder.Services.AddAvgTelemetry();
        configure?.Invoke(builder);
        var app = builder.Build();
        app.MapAvgHttpApi();
        app.MapAvgTelemetry();
        app.MapAvgPages();
        return app;
    }

    /// <summary>The Orleans part: clustering, storage, endpoints, failure detection and the AVG grains.</summary>
    public static void ConfigureSilo(ISiloBuilder silo, AvgSiloOptions options)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(options);
        silo.Configure<ClusterOptions>(cluster =>
        {
            cluster.ClusterId = options.ClusterId;
            cluster.ServiceId = options.ServiceId;
        });
        if (options.Embedded)
        {
            silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort, null, options.ServiceId, options.ClusterId);
            silo.AddMemoryGrainStorage(AvgStorage.Name);
        }
        else
        {
            var redis = ParseRedis(options.Redis!);
            silo.UseRedisClustering(clustering => clustering.ConfigurationOptions = redis.Clone());
            silo.AddRedisGrainStorage(AvgStorage.Name, storage => storage.ConfigurationOptions = FailFast(redis));
            silo.Services.AddSingleton<IIndexLogStore>(new RedisIndexLogStore(redis.Clone()));
            silo.ConfigureEndpoints(AdvertisedAddress(options), options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: true);
        }

        if (options.FailureDetectionSeconds > 0)
        {
            var window = TimeSpan.FromSeconds(options.FailureDetectionSeconds);
            silo.Configure<ClusterMembershipOptions>(membership =>
            {
                // Declared dead after NumMissedProbesLimit probes time out: about the configured window.
                membership.NumMissedProbesLimit = 2;
                membership.ProbeTimeout = Max(window / 2, TimeSpan.FromMilliseconds(500));
                membership.TableRefreshTimeout = Max(window / 2, TimeSpan.FromSeconds(1));
                membership.IAmAliveTablePublishTimeout = Max(window, TimeSpan.FromSeconds(2));
                membership.ExtendProbeTimeoutDuringDegradation = false;
            });
            silo.Configure<SiloMessagingOptions>(messaging => messaging.ResponseTimeout = Max(window * 2, TimeSpan.FromSeconds(5)));
        }

        if (options.HasModel)
        {
            AddModelSilo(silo, options);
        }
        else
        {
            silo.AddAvgCluster(options);
        }

        silo.AddAvgDashboard();
    }

    // Its own method, so that a partitions-only silo never compiles a call into the model host's assembly: it runs
    // without TorchSharp and LibTorch (PartitionsWithoutTorchTests).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void AddModelSilo(ISiloBuilder silo, AvgSiloOptions options) => silo.AddAvgModelSilo(options);

    /// <summary>
    /// For a process that hosts the silo (avg-silo, avg serve, avg demo): bounds how long shutdown may take. When Redis
    /// does not answer as shutdown starts, the silo cannot record in the membership table that it left (Orleans would
    /// retry that for minutes), and it holds nothing unsaved (every change is stored before it is acknowledged): the
    /// process exits with code 1 as soon as the HTTP requests in flight have finished, within
    /// <see cref="AvgSiloOptions.ShutdownSeconds"/>. Otherwise it exits with code 1 if shutdown has not finished within
    /// <see cref="AvgSiloOptions.ShutdownSeconds"/> + <see cref="AvgSiloOptions.ShutdownWatchdogMarginSeconds"/>.
    /// Not for in-process test hosts: it ends the whole process.
    /// </summary>
    public static void ArmShutdownWatchdog(WebApplication app, AvgSiloOptions options, TextWriter? error = null)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(options);
        var budget = TimeSpan.FromSeconds(options.ShutdownSeconds);
        var limit = TimeSpan.FromSeconds(options.ShutdownSeconds + AvgSiloOptions.ShutdownWatchdogMarginSeconds);
        var writer = error ?? Console.Error;
        var redis = app.Services.GetService<IIndexLogStore>() as RedisIndexLogStore;
        var inFlight = app.Services.GetRequiredService<InFlightRequests>();
        app.Lifetime.ApplicationStopping.Register(() =>
        {
            var watchdog = new Thread(() =>
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                if (redis is not null && !redis.AnswersAsync(RedisProbeTimeout).GetAwaiter().GetResult())
                {
                    while (inFlight.Count > 0 && clock.Elapsed < budget)
                    {
                        Thread.Sleep(50);
                    }

                    writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"avg-silo: Redis does not answer, so this silo cannot record that it left the cluster; exiting after {clock.Elapsed.TotalSeconds:F1} s with {inFlight.Count} requests in flight (nothing unsaved: every change was stored before it was acknowledged). The other silos declare it dead after their failure detection window."));
                    writer.Flush();
                    Environment.Exit(1);
                }

                var left = limit - clock.Elapsed;
                if (left > TimeSpan.Zero)
                {
                    Thread.Sleep(left);
                }

                writer.WriteLine($"avg-silo: shutdown did not finish within {(int)limit.TotalSeconds} s (Avg__ShutdownSeconds {options.ShutdownSeconds} + {AvgSiloOptions.ShutdownWatchdogMarginSeconds}); exiting without leaving the cluster cleanly — is Redis reachable?");
                writer.Flush();
                Environment.Exit(1);
            })
            { IsBackground = true, Name = "avg-shutdown-watchdog" };
            watchdog.Start();
        });
    }

    /// <summary>Entry point of `avg-silo`: reads options, runs until stopped; configuration errors print a message, not a stack trace.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        WebApplication app;
        try
        {
            var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args ?? []).Build();
            var options = ReadOptions(configuration);
            app = Build(options, args);
            ArmShutdownWatchdog(app, options);
        }
        catch (AvgException e)
        {
            await Console.Error.WriteLineAsync($"avg-silo: {e.Message}").ConfigureAwait(false);
            return 2;
        }

        try
        {
            await app.RunAsync().ConfigureAwait(false);
            return 0;
        }
        catch (AvgException e)
        {
            await Console.Error.WriteLineAsync($"avg-silo: {e.Message}").ConfigureAwait(false);
            return 1;
        }
        finally
        {
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A copy whose commands fail at once while Redis is unreachable instead of queueing until their timeout (ingest answers 503 at once).</summary>
    private static ConfigurationOptions FailFast(ConfigurationOptions redis)
    {
        var options = redis.Clone();
        options.BacklogPolicy = BacklogPolicy.FailFast;
        return options;
    }

    private static ConfigurationOptions ParseRedis(string connection)
    {
        try
        {
            var parsed = ConfigurationOptions.Parse(connection);
            parsed.AbortOnConnectFail = false;
            return parsed;
        }
        catch (ArgumentException e)
        {
            throw new AvgException($"Avg__Redis '{connection}' is not a Redis connection string ({e.Message}); e.g. localhost:6379.", e);
        }
    }

    private static IPAddress AdvertisedAddress(AvgSiloOptions options)
    {
        if (!string.IsNullOrWhiteSpace(options.AdvertisedIp))
        {
            return IPAddress.Parse(options.AdvertisedIp);
        }

        if (options.Embedded)
        {
            return IPAddress.Loopback;
        }

        var address = NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
        return address ?? throw new AvgException("No non-loopback IPv4 address found to advertise; set Avg__AdvertisedIp (the pod IP in Kubernetes).");
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
