using System.CommandLine;
using System.Globalization;
using System.Net.Sockets;
using Avg.Cluster.Hosting;
using Avg.Silo;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Avg.Cli;

/// <summary>
/// `avg serve`: runs the silo host (the same one `avg-silo` runs) in this process — embedded single silo by default,
/// or joining a Redis-backed cluster with --redis. Every other setting of docs/http-api.md can be given as
/// <c>--Avg:Name=value</c> or an <c>Avg__Name</c> environment variable.
/// </summary>
internal static class ServeCommand
{
    public static Command Create(CliContext context)
    {
        var bundle = new Option<string>("--bundle") { Description = "Model bundle directory (avg train --out).", Required = true };
        var port = new Option<int>("--port") { Description = "HTTP port for the API, pages and /metrics.", DefaultValueFactory = _ => 8080 };
        var redis = new Option<string?>("--redis") { Description = "Redis connection string; omit for the embedded single silo with in-memory state." };
        var roles = new Option<string>("--roles") { Description = "model,partitions | model | partitions.", DefaultValueFactory = _ => "model,partitions" };
        var preset = new Option<string>("--preset") { Description = "Named search settings behind those not given (Avg__Preset): default (the best measured on val) or paper (the paper's score).", DefaultValueFactory = _ => "default" };
        var priorWeight = new Option<double?>("--prior-weight") { Description = "Divide the train voken frequencies out of search scores at this weight α (Avg__PriorWeight); 0 is the paper's score. Default: the preset's (0.4 where the bundle records train frequencies)." };
        var imageRoot = new Option<string?>("--image-root") { Description = "Folder of the indexed image files, for the pictures on the search page." };
        var command = new Command("serve", "Run a silo with the HTTP API until stopped (Ctrl+C).") { bundle, port, redis, roles, imageRoot, preset, priorWeight };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new AvgSiloOptions
            {
                Bundle = Path.GetFullPath(parse.GetValue(bundle)!),
                HttpPort = parse.GetValue(port),
                Redis = parse.GetValue(redis),
                Roles = parse.GetValue(roles)!,
                ImageRoot = parse.GetValue(imageRoot) is { } root ? Path.GetFullPath(root) : null,
                PriorWeight = parse.GetValue(priorWeight),
                Preset = parse.GetValue(preset)!,
            };
            await using var app = await StartAsync(options, parse.UnmatchedTokens.ToArray(), cancellationToken).ConfigureAwait(false);
            // With Redis, leaving the cluster can hang when Redis is gone first; the embedded silo never waits on it.
            if (!options.Embedded) AvgSiloHost.ArmShutdownWatchdog(app, options, context.Error);
            await context.Output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"serving http://127.0.0.1:{options.HttpPort}/ ({(options.Embedded ? "embedded single silo" : "Redis cluster")}) — Ctrl+C to stop")).ConfigureAwait(false);
            await WaitForStopAsync(app, cancellationToken).ConfigureAwait(false);
            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    /// <summary>Builds and starts the silo host with warnings-only console logging; a taken port is a user error.</summary>
    internal static async Task<WebApplication> StartAsync(AvgSiloOptions options, string[] args, CancellationToken cancellationToken)
    {
        var app = AvgSiloHost.Build(options, args, builder =>
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddSimpleConsole(console => console.SingleLine = true);
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.Logging.AddFilter("Orleans", LogLevel.Error); // start-up notes (ServerGC, watchdog) are noise at a terminal
        });
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            return app;
        }
        catch (Exception e) when (e is AddressInUseException || e is IOException { InnerException: SocketException or AddressInUseException })
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new AvgException(string.Create(CultureInfo.InvariantCulture,
                $"cannot listen on port {options.HttpPort} (or the silo ports {options.SiloPort}/{options.GatewayPort}): {e.Message}; choose another with --port"), e);
        }
    }

    /// <summary>
    /// Completes on Ctrl+C or SIGTERM: the web host's console lifetime takes those signals first (it stops the app),
    /// so wait for the app to begin stopping as well as for the command's own cancellation.
    /// </summary>
    internal static async Task WaitForStopAsync(WebApplication app, CancellationToken cancellationToken)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, app.Lifetime.ApplicationStopping);
        try
        {
            await Task.Delay(Timeout.Infinite, either.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
