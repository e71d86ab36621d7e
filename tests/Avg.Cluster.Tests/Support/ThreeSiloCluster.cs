using System.Collections.Concurrent;
using System.Globalization;
using Avg.Cluster.Grains;
using Avg.Cluster.Hosting;
using Avg.Cluster.Inference;
using Avg.Data;
using Avg.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.TestingHost;

namespace Avg.Cluster.Tests.Support;

/// <summary>
/// An <see cref="InProcessTestCluster"/> of three silos: two with the model and partitions roles, the third with
/// partitions only. The Shapes test split of <see cref="TinyShapesBundle"/> is indexed through tokenization shards
/// (raw images), ids being the dataset image indices.
/// </summary>
public sealed class ThreeSiloCluster : IAsyncLifetime
{
    public const int ModelSilos = 2;

    private readonly ConcurrentDictionary<string, string> _rolesBySiloName = new();

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public string Bundle { get; private set; } = "";

    public KarpathyDataset Dataset { get; private set; } = null!;

    public IndexedImage[] Indexed { get; private set; } = [];

    public string IndexVersion { get; private set; } = "";

    /// <summary>The silo without the model role.</summary>
    public SiloAddress PartitionsOnlySilo => Cluster.Silos.Single(s => _rolesBySiloName[s.Name] == AvgSiloOptions.PartitionsRole).SiloAddress;

    public IGrainFactory Grains => Cluster.Client;

    public async Task InitializeAsync()
    {
        Bundle = TinyShapesBundle.Ensure();
        Dataset = TinyShapesBundle.Dataset();
        var builder = new InProcessTestClusterBuilder(3);
        builder.ConfigureSilo((silo, siloBuilder) =>
        {
            var roles = _rolesBySiloName.GetOrAdd(silo.SiloName, _ => _rolesBySiloName.Count < ModelSilos ? "model,partitions" : AvgSiloOptions.PartitionsRole);
            siloBuilder.AddMemoryGrainStorage(AvgStorage.Name);
            AddSilo(siloBuilder, new AvgSiloOptions { Bundle = Bundle, Roles = roles, Device = "cpu", Threads = 1, Shards = 2 });
        });
        builder.ConfigureSiloHost((_, host) => host.Logging.SetMinimumLevel(LogLevel.Warning));
        Cluster = builder.Build();
        await Cluster.DeployAsync();

        var info = await Grains.GetGrain<IQueryGrain>(0).GetBundleInfo();
        IndexVersion = info.IndexVersion;
        var test = Dataset.Images.Where(i => i.Split == Split.Test).ToArray();
        var items = test.Select(i => new IngestItem
        {
            Id = i.Index.ToString(CultureInfo.InvariantCulture),
            Pixels = ImageDecoder.DecodeFile(Dataset.ImagePath(i), info.ImageSize),
            Uri = "shapes://" + i.FileName,
        }).ToArray();
        var halves = items.Chunk((items.Length + 1) / 2).ToArray();
        var results = await Task.WhenAll(halves.Select((half, s) => Grains.GetGrain<ITokenizationShardGrain>(s).Ingest(half)));
        Indexed = results.SelectMany(r => r).ToArray();
    }

    private static void AddSilo(ISiloBuilder silo, AvgSiloOptions options)
    {
        if (options.HasModel)
        {
            silo.AddAvgModelSilo(options);
        }
        else
        {
            silo.AddAvgCluster(options);
        }
    }

    public async Task DisposeAsync()
    {
        if (Cluster is not null)
        {
            await Cluster.StopAllSilosAsync();
            await Cluster.DisposeAsync();
        }
    }

    /// <summary>Silo of every activation of a grain class.</summary>
    public async Task<SiloAddress[]> SilosOf<TGrain>()
    {
        var stats = await Grains.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        return stats.Where(s => s.GrainType.StartsWith(typeof(TGrain).FullName + ",", StringComparison.Ordinal) || s.GrainType == typeof(TGrain).FullName)
            .Select(s => s.SiloAddress).ToArray();
    }

    /// <summary>The grain factory of one silo: calls made through it are placed by that silo.</summary>
    public IGrainFactory GrainsOf(SiloAddress silo) =>
        Cluster.Silos.OfType<InProcessSiloHandle>().Single(s => s.SiloAddress.Equals(silo)).ServiceProvider.GetRequiredService<IGrainFactory>();
}
