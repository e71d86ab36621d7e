using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Avg.Cluster.Tests.Support;
using Avg.Data;
using Avg.Tests.Support;

namespace Avg.Cluster.Tests.BadInput;

/// <summary>
/// One embedded silo for the bad-input corpus and the fuzzing: an API key (<c>Avg__ApiKeys</c>), an image folder with
/// a file beside it that traversal must not reach, and a few indexed images so searches have results to compare.
/// </summary>
public sealed class BadInputSiloFixture : IAsyncLifetime
{
    public const string Key = "corpus-key";
    public const int FeatureWidth = 32; // TinyShapesBundle.Training.EmbeddingDim

    private readonly string _folder = Path.Combine(Path.GetTempPath(), "avg-bad-input-" + Guid.NewGuid().ToString("N")[..12]);

    public EmbeddedSilo Silo { get; private set; } = null!;

    public HttpClient Http => Silo.Http;

    public byte[] Png { get; private set; } = [];

    public string KnownId { get; private set; } = "";

    public string KnownQuery { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var bundle = TinyShapesBundle.Ensure();
        var dataset = TinyShapesBundle.Dataset();
        var test = dataset.Images.Where(i => i.Split == Split.Test).Take(12).ToArray();
        Png = File.ReadAllBytes(dataset.ImagePath(test[0]));
        var root = Directory.CreateDirectory(Path.Combine(_folder, "images")).FullName;
        File.WriteAllBytes(Path.Combine(root, "known.png"), Png);
        File.WriteAllText(Path.Combine(root, "notes.txt"), "not an image");
        File.WriteAllBytes(Path.Combine(_folder, "secret.png"), Png);
        Silo = await EmbeddedSilo.StartAsync(bundle, apiKeys: Key, configure: o => o.ImageRoot = root);
        Silo.Http.DefaultRequestHeaders.Add("X-Api-Key", Key);

        var ingest = await Http.PostAsJsonAsync("/v1/images", new
        {
            images = test.Select(i => new { id = "known-" + i.Index.ToString(CultureInfo.InvariantCulture), imageBase64 = Convert.ToBase64String(File.ReadAllBytes(dataset.ImagePath(i))), uri = "file:///known.png" }),
        });
        ingest.EnsureSuccessStatusCode();
        KnownId = "known-" + test[0].Index.ToString(CultureInfo.InvariantCulture);
        KnownQuery = test[0].Captions[0];
    }

    /// <summary>What must not change while the index is fed bad input: the image count and a search's ids and scores.</summary>
    public async Task<(int Images, string Search)> SnapshotAsync()
    {
        var stats = JsonNode.Parse(await Http.GetStringAsync(new Uri("/v1/stats", UriKind.Relative)))!;
        var search = await Http.PostAsJsonAsync("/v1/search", new { query = KnownQuery, k = 10 });
        search.EnsureSuccessStatusCode();
        var results = JsonNode.Parse(await search.Content.ReadAsStringAsync())!["results"]!.ToJsonString();
        return ((int)stats["images"]!, results);
    }

    public async Task<int> ImageCountAsync() =>
        (int)JsonNode.Parse(await Http.GetStringAsync(new Uri("/v1/stats", UriKind.Relative)))!["images"]!;

    public async Task<bool> IsReadyAsync() =>
        (await Http.GetAsync(new Uri("/health/ready", UriKind.Relative))).IsSuccessStatusCode;

    public async Task DisposeAsync()
    {
        await Silo.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class BadInputSilo : ICollectionFixture<BadInputSiloFixture>
{
    public const string Name = "bad input";
}
