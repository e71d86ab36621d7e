using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Avg.Tests.Support;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Avg.Pages.Tests;

/// <summary>
/// The search page, the shard dashboard and the Orleans Dashboard in a real browser after real ingest and searches:
/// what the pages show is checked against the HTTP API, and each page is saved as a screenshot.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Browser)]
public class PagesInBrowserTests(PagesFixture fixture, ITestOutputHelper output) : IClassFixture<PagesFixture>
{
    private const float Timeout = 30_000;

    [Fact]
    public async Task Search_page_shows_ranked_images_and_a_clicked_images_vokens_partition_and_neighbours()
    {
        var errors = new List<string>();
        var page = await fixture.NewPageAsync(errors);
        var query = fixture.Indexed[7].Captions[0];
        var expected = await Api($"/v1/search", new { query, k = 20 });
        var hits = expected["results"]!.AsArray();

        await page.GotoAsync("/");
        (await HeaderLinks(page)).ShouldBe(["Search*", "Shards", "Orleans dashboard", "Metrics"]);
        await page.FillAsync("#query", query);
        await page.ClickAsync("#search-form button[type=submit]");
        await page.WaitForFunctionAsync(
            "n => { const imgs = [...document.querySelectorAll('#results .card img.thumb')]; return imgs.length === n && imgs.every(i => i.complete && i.naturalWidth > 0); }",
            hits.Count,
            new PageWaitForFunctionOptions { Timeout = Timeout });

        var cards = page.Locator("#results .card");
        (await cards.CountAsync()).ShouldBe(hits.Count);
        for (var i = 0; i < hits.Count; i++)
        {
            var card = cards.Nth(i);
            (await card.GetAttributeAsync("data-id")).ShouldBe((string)hits[i]!["imageId"]!);
            (await card.Locator(".rank").InnerTextAsync()).ShouldBe("#" + (i + 1));
            float.Parse(await card.Locator(".score").InnerTextAsync(), CultureInfo.InvariantCulture).ShouldBe((float)hits[i]!["score"]!, 0.001f);
            (await Vokens(card.Locator(".vokens .chip"))).ShouldBe(hits[i]!["vokens"]!.AsArray().Select(v => (int)v!).ToArray());
        }

        (await page.Locator("#status").InnerTextAsync()).ShouldStartWith($"{hits.Count} results in ");
        await fixture.ScreenshotAsync(page, "search-results", output);

        var first = (string)hits[0]!["imageId"]!;
        var neighbours = await Api($"/v1/images/{first}/neighbours?k=12");
        await cards.First.ClickAsync();
        await page.Locator("#detail-partition").WaitForAsync(new LocatorWaitForOptions { Timeout = Timeout });
        var vokens = hits[0]!["vokens"]!.AsArray().Select(v => (int)v!).ToArray();
        (await page.Locator("#detail-partition").InnerTextAsync()).ShouldBe(vokens[0].ToString(CultureInfo.InvariantCulture));
        (await Vokens(page.Locator("#detail-vokens .chip"))).ShouldBe(vokens);
        await page.WaitForFunctionAsync(
            "() => [...document.querySelectorAll('#detail img.thumb')].every(i => i.complete && i.naturalWidth > 0)",
            null,
            new PageWaitForFunctionOptions { Timeout = Timeout });

        var expectedNeighbours = neighbours["neighbours"]!.AsArray();
        expectedNeighbours.Count.ShouldBeGreaterThan(0, "60 images over 16 first vokens: some share a partition");
        var rows = page.Locator("#neighbours .neighbour");
        (await rows.CountAsync()).ShouldBe(expectedNeighbours.Count);
        var shared = new List<int>();
        for (var i = 0; i < expectedNeighbours.Count; i++)
        {
            var row = rows.Nth(i);
            (await row.GetAttributeAsync("data-id")).ShouldBe((string)expectedNeighbours[i]!["id"]!);
            var rowVokens = await Vokens(row.Locator(".chip"));
            rowVokens[0].ShouldBe(vokens[0], "a neighbour is in the same partition");
            var sharedCount = await row.Locator(".chip.shared").CountAsync();
            sharedCount.ShouldBe((int)expectedNeighbours[i]!["sharedPrefix"]!);
            rowVokens.Take(sharedCount).ShouldBe(vokens.Take(sharedCount));
            shared.Add(sharedCount);
        }

        shared.ShouldBe(shared.OrderByDescending(s => s).ToList(), "nearest first");
        await fixture.ScreenshotAsync(page, "search-image-detail", output);
        errors.ShouldBeEmpty();
    }

    [Fact]
    public async Task Shard_dashboard_shows_live_shard_throughput_partitions_latency_and_silos()
    {
        // Fresh ingest (re-adding replaces), so the shards' last-10-seconds rate is live when the page opens.
        await fixture.IngestAsync(fixture.Indexed.Take(40));
        var errors = new List<string>();
        var page = await fixture.NewPageAsync(errors);
        await page.GotoAsync("/shards.html");
        (await HeaderLinks(page)).ShouldBe(["Search", "Shards*", "Orleans dashboard", "Metrics"]);
        await page.WaitForFunctionAsync(
            "n => document.querySelectorAll('#shards tbody tr.shard').length === n && [...document.querySelectorAll('#partitions tbody tr.partition td.queries')].some(td => td.textContent !== '0')",
            PagesFixture.Shards,
            new PageWaitForFunctionOptions { Timeout = Timeout });
        var stats = await Api("/v1/stats");

        var shardRows = page.Locator("#shards tbody tr.shard");
        var shardImages = new List<long>();
        var rates = new List<double>();
        for (var i = 0; i < PagesFixture.Shards; i++)
        {
            shardImages.Add(long.Parse(await shardRows.Nth(i).Locator("td.images").InnerTextAsync(), NumberStyles.AllowThousands, CultureInfo.InvariantCulture));
            rates.Add(double.Parse(await shardRows.Nth(i).Locator("td.rate").InnerTextAsync(), NumberStyles.Float | NumberStyles.AllowThousands, CultureInfo.InvariantCulture));
        }

        shardImages.Sum().ShouldBe(stats["shards"]!.AsArray().Sum(s => (long)s!["images"]!));
        shardImages.ShouldAllBe(n => n > 0, "ingest batches are spread over both shards");
        rates.Sum().ShouldBeGreaterThan(0, "40 images were ingested just now");
        (await page.Locator("#shard-chart polyline").CountAsync()).ShouldBe(PagesFixture.Shards);

        var partitions = page.Locator("#partitions tbody tr.partition");
        (await partitions.CountAsync()).ShouldBe((int)stats["partitions"]!);
        var partitionImages = 0;
        for (var i = 0; i < await partitions.CountAsync(); i++)
        {
            partitionImages += int.Parse(await partitions.Nth(i).Locator("td.images").InnerTextAsync(), CultureInfo.InvariantCulture);
        }

        partitionImages.ShouldBe(fixture.Indexed.Length);
        (await page.Locator("#images").InnerTextAsync()).ShouldBe(fixture.Indexed.Length.ToString(CultureInfo.InvariantCulture));

        var p50 = Milliseconds(await page.Locator("#latency-p50").InnerTextAsync());
        var p99 = Milliseconds(await page.Locator("#latency-p99").InnerTextAsync());
        p50.ShouldBeGreaterThan(0);
        p99.ShouldBeGreaterThanOrEqualTo(p50);

        var silo = page.Locator("#silos tbody tr.silo");
        (await silo.CountAsync()).ShouldBe(1);
        (await silo.Locator("td.roles").InnerTextAsync()).ShouldBe("model, partitions");
        (await silo.Locator("td").AllInnerTextsAsync()).ShouldBe([(string)stats["silos"]![0]!["address"]!, "model, partitions", "yes", "no", "Active"]);
        await fixture.ScreenshotAsync(page, "shard-dashboard", output);
        errors.ShouldBeEmpty();
    }

    [Fact]
    public async Task Orleans_dashboard_is_mounted_at_dashboard()
    {
        var errors = new List<string>();
        var page = await fixture.NewPageAsync(errors);
        var response = await page.GotoAsync("/dashboard");
        response!.Ok.ShouldBeTrue();
        (await page.TitleAsync()).ShouldBe("Orleans Dashboard");
        page.Url.ShouldEndWith("/dashboard/");

        // The dashboard's overview fills in from its own grains: one active silo, and the activations of real traffic.
        await page.WaitForFunctionAsync(
            "() => /active silos\\s*1\\b/i.test(document.body.innerText) && /total activations\\s*[1-9]/i.test(document.body.innerText)",
            null,
            new PageWaitForFunctionOptions { Timeout = Timeout });
        await fixture.ScreenshotAsync(page, "orleans-dashboard", output);
        errors.ShouldBeEmpty();
    }

    [Fact]
    public async Task Image_files_come_only_from_the_image_folder_and_neighbours_validate_their_input()
    {
        var file = Path.GetFileName(fixture.Indexed[0].FileName);
        var image = await fixture.Http.GetAsync(new Uri("/images/" + file, UriKind.Relative));
        image.StatusCode.ShouldBe(System.Net.HttpStatusCode.OK);
        image.Content.Headers.ContentType!.MediaType.ShouldBe("image/png");
        (await image.Content.ReadAsByteArrayAsync()).ShouldBe(await File.ReadAllBytesAsync(fixture.Dataset.ImagePath(fixture.Indexed[0])));

        // dataset.json sits one folder above the image folder.
        foreach (var path in new[] { "/images/..%2Fdataset.json", "/images/..%5Cdataset.json", "/images/%2E%2E%2Fdataset.json", "/images/missing.png", "/images/dataset.json" })
        {
            var response = await fixture.Http.GetAsync(new Uri(path, UriKind.Relative));
            response.StatusCode.ShouldBe(System.Net.HttpStatusCode.NotFound, path);
            (await response.Content.ReadAsStringAsync()).ShouldNotContain("\"images\"", customMessage: path);
        }

        (await fixture.Http.GetAsync(new Uri("/v1/images/no-such-image/neighbours", UriKind.Relative))).StatusCode.ShouldBe(System.Net.HttpStatusCode.NotFound);
        var id = fixture.Indexed[0].Index.ToString(CultureInfo.InvariantCulture);
        (await fixture.Http.GetAsync(new Uri($"/v1/images/{id}/neighbours?k=0", UriKind.Relative))).StatusCode.ShouldBe(System.Net.HttpStatusCode.BadRequest);
        (await fixture.Http.GetAsync(new Uri($"/v1/images/{id}/neighbours?k=101", UriKind.Relative))).StatusCode.ShouldBe(System.Net.HttpStatusCode.BadRequest);
        var three = await Api($"/v1/images/{id}/neighbours?k=3");
        three["neighbours"]!.AsArray().Count.ShouldBeLessThanOrEqualTo(3);
        three["neighbours"]!.AsArray().ShouldAllBe(n => (string)n!["id"]! != id);
    }

    private static double Milliseconds(string text)
    {
        text.ShouldEndWith(" ms");
        return double.Parse(text[..^3], NumberStyles.Float | NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
    }

    private static async Task<int[]> Vokens(ILocator chips) =>
        (await chips.AllInnerTextsAsync()).Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToArray();

    private async Task<JsonNode> Api(string path, object? body = null)
    {
        var response = body is null
            ? await fixture.Http.GetAsync(new Uri(path, UriKind.Relative))
            : await fixture.Http.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        response.IsSuccessStatusCode.ShouldBeTrue(text);
        return JsonNode.Parse(text)!;
    }

    /// <summary>The shared header's links as their text, the current page's marked with a trailing '*'.</summary>
    private static async Task<string[]> HeaderLinks(IPage page) =>
        (await page.Locator("header.top nav a").EvaluateAllAsync<string[]>("links => links.map(a => a.textContent + (a.classList.contains('here') ? '*' : ''))"));
}
