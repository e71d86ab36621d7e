using Avg.Cluster;

namespace Avg.Silo.Http;

/// <summary>Where an indexed image is: its directory bucket names its partition, the partition holds the image (docs/design.md §2.2).</summary>
public static class ImageLookup
{
    /// <summary>The partition holding <paramref name="id"/> and the image as it holds it; both null when the id is not indexed.</summary>
    public static async Task<(IVokenTriePartitionGrain? Partition, IndexedImage? Image)> FindAsync(IGrainFactory grains, string indexVersion, string id)
    {
        ArgumentNullException.ThrowIfNull(grains);
        var first = await grains.GetGrain<IImageDirectoryGrain>(ImageDirectoryBuckets.Of(id), indexVersion).Lookup(id).ConfigureAwait(false);
        if (first < 0)
        {
            return (null, null);
        }

        var partition = grains.GetGrain<IVokenTriePartitionGrain>(first, indexVersion);
        var image = await partition.Find(id).ConfigureAwait(false);
        return image is null ? (null, null) : (partition, image);
    }
}
