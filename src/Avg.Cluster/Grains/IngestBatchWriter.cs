using Avg.Cluster.Model;

namespace Avg.Cluster.Grains;

/// <summary>
/// Writes a tokenized ingest batch into the index: the directory (ids new to it), the partitions, then the moves of
/// re-indexed ids whose first voken changed (the old partition's removal, then the directory). Each step is
/// idempotent and only follows the steps before it, so a batch that failed part-way is completed by sending it again
/// (docs/cluster.md, "Ingest atomicity"). Until then each of its images is either indexed or invisible: a directory
/// entry whose partition does not hold the id is not found, counted or searched.
/// </summary>
public sealed class IngestBatchWriter(IGrainFactory grains, IngestFanOut fanOut)
{
    /// <summary>Writes the batch; cancelled, it stops before its next call (and calls not yet run by their grain are dropped).</summary>
    public async Task WriteAsync(IReadOnlyList<IndexedImage> indexed, string indexVersion, int codebookSize, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(indexed);
        var ct = cancellationToken;

        // The last of an id wins, as partitions apply it.
        var latest = new Dictionary<string, IndexedImage>(StringComparer.Ordinal);
        foreach (var image in indexed)
        {
            latest[image.Id] = image;
        }

        var images = latest.Values.ToArray();
        var moves = new List<(IndexedImage Image, int From)>();
        var directoryCalls = images.GroupBy(image => ImageDirectoryBuckets.Of(image.Id)).Select(async bucket =>
        {
            var group = bucket.ToArray();
            var previous = await fanOut.RunAsync(() => Directory(bucket.Key, indexVersion).Assign(group.Select(i => i.Id).ToArray(), group.Select(i => i.Partition).ToArray(), ct), ct);
            return group.Zip(previous, (image, from) => (image, from));
        });
        foreach (var result in await Task.WhenAll(directoryCalls))
        {
            moves.AddRange(result.Where(r => r.from >= 0 && r.from != r.image.Partition));
        }

        await Task.WhenAll(images.GroupBy(image => image.Partition).Select(partition => fanOut.RunAsync(() =>
            Partition(partition.Key, indexVersion).Upsert(partition.ToArray(), codebookSize, ct), ct)));
        if (moves.Count == 0)
        {
            return;
        }

        await Task.WhenAll(moves.GroupBy(m => m.From).Select(old => fanOut.RunAsync(() =>
            Partition(old.Key, indexVersion).Remove(old.Select(m => m.Image.Id).ToArray(), ct), ct)));
        await Task.WhenAll(moves.GroupBy(m => ImageDirectoryBuckets.Of(m.Image.Id)).Select(bucket => fanOut.RunAsync(() =>
            Directory(bucket.Key, indexVersion).Move(bucket.Select(m => m.Image.Id).ToArray(), bucket.Select(m => m.Image.Partition).ToArray(), ct), ct)));
    }

    private IImageDirectoryGrain Directory(int bucket, string indexVersion) => grains.GetGrain<IImageDirectoryGrain>(bucket, indexVersion);

    private IVokenTriePartitionGrain Partition(int firstVoken, string indexVersion) => grains.GetGrain<IVokenTriePartitionGrain>(firstVoken, indexVersion);
}
