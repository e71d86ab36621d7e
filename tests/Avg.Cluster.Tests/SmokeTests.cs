using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Avg.Cluster.Tests.Support;

namespace Avg.Cluster.Tests;

public class SmokeTests
{
    [Fact]
    public async Task Embedded_silo_indexes_and_searches()
    {
        var bundle = TinyShapesBundle.Ensure();
        var dataset = TinyShapesBundle.Dataset();
        await using var silo = await EmbeddedSilo.StartAsync(bundle);
        var images = dataset.Images.Where(i => i.Split == Avg.Data.Split.Test).Take(20)
            .Select(i => new { id = i.Index.ToString(System.Globalization.CultureInfo.InvariantCulture), imageBase64 = Convert.ToBase64String(File.ReadAllBytes(dataset.ImagePath(i))) }).ToArray();
        var ingest = await silo.Http.PostAsJsonAsync("/v1/images", new { images });
        var ingestText = await ingest.Content.ReadAsStringAsync();
        ingest.IsSuccessStatusCode.ShouldBeTrue(ingestText);
        var search = await silo.Http.PostAsJsonAsync("/v1/search", new { query = "a red circle", k = 5 });
        var text = await search.Content.ReadAsStringAsync();
        search.IsSuccessStatusCode.ShouldBeTrue(text);
        JsonNode.Parse(text)!["results"]!.AsArray().Count.ShouldBe(5, text);
    }
}
