using System.Globalization;
using System.Net.Http.Json;
using Avg.Client;
using Avg.Cluster.Hosting;
using Avg.Data;
using Avg.Silo;
using Avg.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Avg.Pages.Tests;

/// <summary>
/// A real silo host (embedded, the tiny trained Shapes bundle, image folder = the dataset's images) on free loopback
/// ports, with the Shapes test split ingested and a few searches run over HTTP, and a headless Debian Chromium
/// driven by Playwright. Screenshots go to <c>$AVG_TEST_ARTIFACTS</c>, by default <c>artifacts/screenshots/</c> at
/// the repository root.
/// </summary>
public sealed class PagesFixture : IAsyncLifetime
{
    public const int Shards = 2;

    /// <summary>Debian's Chromium; Playwright's own browser download does not work on the build machines.</summary>
    public static string ChromiumPath => Environment.GetEnvironmentVariable("AVG_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    private IPlaywright? _playwright;

    public WebApplication App { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public KarpathyDataset Dataset { get; private set; } = null!;

    public DatasetImage[] Indexed { get; private set; } = [];

    public IBrowser Browser { get; private set; } = null!;

    public string ArtifactsFolder { get; } = Environment.GetEnvironmentVariable("AVG_TEST_ARTIFACTS") is { Length: > 0 } folder
        ? Path.GetFullPath(folder)
        : Path.Combine(RepositoryRoot(), "artifacts", "screenshots");

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException(
                $"The browser tests need Debian's Chromium at {ChromiumPath}, which is missing: run `apt-get install -y chromium` (.ci/run does) or set AVG_CHROMIUM to a Chromium executable.");
        }

        var bundle = TinyShapesBundle.Ensure();
        Dataset = TinyShapesBundle.Dataset();
        Indexed = Dataset.Images.Where(i => i.Split == Split.Test).ToArray();
        var ports = LoopbackPorts.Take(3);
        var options = new AvgSiloOptions
        {
            Bundle = bundle, SiloPort = ports[0], GatewayPort = ports[1], HttpPort = ports[2], Device = "cpu", Threads = 1, Shards = Shards,
            ImageRoot = Path.GetDirectoryName(Dataset.ImagePath(Indexed[0])), ServiceId = "avg-pages-test", ClusterId = "avg-pages-" + ports[0],
        };
        App = AvgSiloHost.Build(options, configure: b => b.Logging.SetMinimumLevel(LogLevel.Warning));
        await App.StartAsync();
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{options.HttpPort}") };
        await WaitReadyAsync(TimeSpan.FromSeconds(60));

        foreach (var batch in Indexed.Chunk(30))
        {
            await IngestAsync(batch);
        }

        foreach (var image in Indexed.Take(5))
        {
            (await Http.PostAsJsonAsync("/v1/search", new { query = image.Captions[0], k = 10 })).EnsureSuccessStatusCode();
        }

        Directory.CreateDirectory(ArtifactsFolder);
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }

    /// <summary>Indexes images over HTTP with their file name as <c>uri</c> (shown from the image folder).</summary>
    public async Task IngestAsync(IEnumerable<DatasetImage> images)
    {
        var response = await Http.PostAsJsonAsync("/v1/images", new
        {
            images = images.Select(i => new
            {
                id = i.Index.ToString(CultureInfo.InvariantCulture),
                imageBase64 = Convert.ToBase64String(File.ReadAllBytes(Dataset.ImagePath(i))),
                uri = "shapes://" + Path.GetFileName(i.FileName),
            }),
        });
        response.EnsureSuccessStatusCode();
    }

    /// <summary>A fresh page on the silo that records console errors and uncaught exceptions into <paramref name="errors"/>.</summary>
    public async Task<IPage> NewPageAsync(List<string> errors)
    {
        var page = await Browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = Http.BaseAddress!.ToString(), ViewportSize = new ViewportSize { Width = 1360, Height = 900 } });
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                errors.Add($"console: {message.Text}");
            }
        };
        page.PageError += (_, error) => errors.Add($"page error: {error}");
        return page;
    }

    /// <summary>Saves a full-page screenshot as a test artifact; returns its path.</summary>
    public async Task<string> ScreenshotAsync(IPage page, string name, ITestOutputHelper output)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(output);
        var path = Path.Combine(ArtifactsFolder, name + ".png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        output.WriteLine($"screenshot: {path}");
        return path;
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        _playwright?.Dispose();
        Http?.Dispose();
        if (App is not null)
        {
            await App.StopAsync();
            await App.DisposeAsync();
        }
    }

    private Task WaitReadyAsync(TimeSpan timeout) =>
        new AvgSearchClient(Http.BaseAddress!).WaitUntilReadyAsync(timeout, TimeSpan.FromMilliseconds(100));

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Avg.Cluster.sln")))
            {
                return dir.FullName;
            }
        }

        return Directory.GetCurrentDirectory();
    }
}
