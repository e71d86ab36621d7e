using Avg.Cluster.Hosting;
using Avg.Retrieval;

namespace Avg.Cluster.Model;

/// <summary>Identifiers (rows of M vokens) and fine codes (rows of <paramref name="FineLevels"/> bytes) of a batch of images.</summary>
public sealed record TokenizedImages(int[] Vokens, byte[] Fine, int FineLevels);

/// <summary>What the model host returns for one query of a batch; <paramref name="Missing"/> and <paramref name="Stale"/> name the partitions left out or read from older copies at the deadline.</summary>
public sealed record HostSearchOutcome(SearchHit[] Hits, PartitionSource Source, double GeneratorMs, int BatchSize, double WaitMs, int[] Missing, int[] Stale);

/// <summary>
/// The model of a silo, as grains and the HTTP layer see it: every TorchSharp call of the silo runs behind it. A model
/// silo registers the real one (<c>ModelHost</c>, in Avg.Cluster.Inference, with <c>AddAvgModelSilo</c>); a silo with
/// the partitions role only gets <see cref="AbsentModelHost"/>, so it never loads Torch (docs/design.md §2.6).
/// </summary>
public interface IModelHost
{
    /// <summary>False on silos without the model role: they never load a bundle.</summary>
    bool Enabled { get; }

    /// <summary>Completes with the bundle's facts once it is loaded; faults with the reason when it cannot be.</summary>
    Task<BundleInfo> Ready { get; }

    bool IsReady { get; }

    /// <summary>Generator batches run (each may hold several queries) and queries answered.</summary>
    (long Batches, long Searches) SearchCounters { get; }

    /// <summary>Identifiers of feature vectors, one array per image of the bundle's width; a cancelled batch not yet run is dropped.</summary>
    Task<TokenizedImages> TokenizeFeaturesAsync(IReadOnlyList<float[]> rows, CancellationToken cancellationToken = default);

    /// <summary>Identifiers of decoded images: one array per image, planar RGB at the bundle's image size.</summary>
    Task<TokenizedImages> TokenizeImagesAsync(IReadOnlyList<byte[]> pixels, CancellationToken cancellationToken = default);

    /// <summary>
    /// Constrained beam search of one query over the index that <paramref name="catalog"/> describes, answered once
    /// <paramref name="timeout"/> has passed even if some partitions have not arrived: those are read from the copy this
    /// silo holds, or left out (<see cref="HostSearchOutcome.Missing"/>). A cancelled search is dropped at once.
    /// </summary>
    Task<HostSearchOutcome> SearchAsync(string query, SearchOptions options, string indexVersion, CatalogSnapshot catalog, TimeSpan timeout, CancellationToken cancellationToken = default);
}

/// <summary>The model host of a silo without the model role: it has none, and says so to any caller.</summary>
public sealed class AbsentModelHost(Microsoft.Extensions.Options.IOptions<AvgSiloOptions> options) : IModelHost
{
    public bool Enabled => false;

    public Task<BundleInfo> Ready => Task.FromException<BundleInfo>(NotAModelSilo());

    public bool IsReady => false;

    public (long Batches, long Searches) SearchCounters => (0, 0);

    public Task<TokenizedImages> TokenizeFeaturesAsync(IReadOnlyList<float[]> rows, CancellationToken cancellationToken = default) =>
        Task.FromException<TokenizedImages>(NotAModelSilo());

    public Task<TokenizedImages> TokenizeImagesAsync(IReadOnlyList<byte[]> pixels, CancellationToken cancellationToken = default) =>
        Task.FromException<TokenizedImages>(NotAModelSilo());

    public Task<HostSearchOutcome> SearchAsync(string query, SearchOptions options, string indexVersion, CatalogSnapshot catalog, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        Task.FromException<HostSearchOutcome>(NotAModelSilo());

    private AvgException NotAModelSilo() => NotAModelSilo(options.Value.Roles);

    /// <summary>What a caller is told when it asks a silo without the model role for model work.</summary>
    public static AvgException NotAModelSilo(string roles) =>
        new($"This silo has roles '{roles}' and hosts no model; model work is placed on silos with the model role.");
}
