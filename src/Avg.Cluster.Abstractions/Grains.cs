using Orleans.Concurrency;

namespace Avg.Cluster;

/// <summary>
/// Owns the sub-trie of one first voken (key: first voken; key extension: index version) and the ids and URIs at
/// its leaves; persisted as a base plus appended change records, replayed on activation. Adds, deletes, prefix expansion and leaf look-ups go through it.
/// </summary>
/// <remarks>
/// Reads are <see cref="AlwaysInterleaveAttribute"/>: they touch only memory and never await, so they run between the
/// turns of a change that is waiting on storage instead of queueing behind it (a query refreshing its cache during
/// ingest does not wait for the partition's pending writes). A change applies to memory in one turn after its record
/// is stored, so a read sees the state before or after it, never half of it.
/// </remarks>
public interface IVokenTriePartitionGrain : IGrainWithIntegerCompoundKey
{
    /// <summary>
    /// Adds or replaces images (all starting with this partition's voken); returns the partition's image count.
    /// Cancelled before its change is stored, it stores nothing.
    /// </summary>
    Task<int> Upsert(IndexedImage[] images, int codebookSize, CancellationToken cancellationToken = default);

    /// <summary>Removes the images that are here; returns how many were.</summary>
    Task<int> Remove(string[] ids, CancellationToken cancellationToken = default);

    /// <summary>
    /// What changed since <paramref name="sinceRevision"/> (a revision a query silo holds), or the whole partition
    /// when that revision is −1 or older than the changes the partition keeps: a cache refreshes by delta.
    /// </summary>
    [AlwaysInterleave]
    Task<PartitionChanges> GetChanges(long sinceRevision);

    /// <summary>
    /// Subscribes a query silo's cache to this partition's changes for a few minutes (the cache renews it while it
    /// refreshes): each change is pushed to it as a delta (<see cref="IPartitionChangeObserver.Changed"/>) as soon as it
    /// is stored, before the catalog hears of it, so a query seldom waits for a refresh. Pushes are best effort; a query
    /// still fetches what it lacks (<see cref="GetChanges"/>).
    /// </summary>
    [AlwaysInterleave]
    Task Watch(IPartitionChangeObserver observer);

    /// <summary>Image count and revision; answered even while the partition is busy (the catalog asks it on activation).</summary>
    [AlwaysInterleave]
    Task<PartitionInfo> GetInfo();

    [AlwaysInterleave]
    Task<IndexedImage?> Find(string id);

    /// <summary>Up to <paramref name="k"/> other images nearest to <paramref name="id"/> by shared voken prefix, nearest first; empty when the id is not here.</summary>
    [AlwaysInterleave]
    Task<IndexedImage[]> Neighbours(string id, int k);
}

/// <summary>A query silo's partition cache, told of each change of the partitions it watches (<see cref="IVokenTriePartitionGrain.Watch"/>).</summary>
public interface IPartitionChangeObserver : IGrainObserver
{
    /// <summary>One change of a partition of <paramref name="indexVersion"/>: the delta from <see cref="PartitionChanges.BaseRevision"/> to <see cref="PartitionChanges.Revision"/>.</summary>
    [OneWay]
    Task Changed(string indexVersion, PartitionChanges changes);
}

/// <summary>Which partitions of an index exist (key: index version): the root of the distributed trie.</summary>
public interface IIndexCatalogGrain : IGrainWithStringKey
{
    /// <summary>A partition reports its image count after a change (0 removes it from the catalog).</summary>
    Task Report(int firstVoken, int images, long revision);

    /// <summary>Query silos report how many queries touched each partition since their last report.</summary>
    Task ReportQueries(int[] firstVokens, long[] queries);

    [AlwaysInterleave]
    Task<CatalogSnapshot> GetSnapshot();
}

/// <summary>Image id → partition for one hash bucket of ids (key: bucket; key extension: index version).</summary>
public interface IImageDirectoryGrain : IGrainWithIntegerCompoundKey
{
    /// <summary>
    /// Records the partitions of the ids that are new here; returns each id's partition before the call, or -1. An id
    /// already held at another partition is left there: the caller moves it (new partition, then the old one's removal,
    /// then <see cref="Move"/>), so that a batch retried after a failure part-way still sees the move.
    /// </summary>
    Task<int[]> Assign(string[] ids, int[] partitions, CancellationToken cancellationToken = default);

    /// <summary>Records new partitions for ids whose old partition no longer holds them (the last step of a move).</summary>
    Task Move(string[] ids, int[] partitions, CancellationToken cancellationToken = default);

    /// <summary>The partition of an id, or -1.</summary>
    [AlwaysInterleave]
    Task<int> Lookup(string id);

    /// <summary>Forgets an id; returns the partition it was in, or -1.</summary>
    Task<int> Remove(string id);
}

/// <summary>Turns image batches into voken sequences on its silo's model host and routes them to partitions (key: shard).</summary>
public interface ITokenizationShardGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Tokenizes and indexes a batch (<see cref="Tokenize"/> then <see cref="Write"/>); a refused batch throws
    /// <c>InvalidRequestException</c> naming every field and indexes nothing. Cancelled (its caller went away), it
    /// stops before its next step.
    /// </summary>
    Task<IndexedImage[]> Ingest(IngestItem[] items, CancellationToken cancellationToken = default);

    /// <summary>
    /// The first half of <see cref="Ingest"/>: checks the batch's rules, decodes its image files and runs the model,
    /// writing nothing, so a caller that splits one batch over several shards writes only when every part is accepted.
    /// </summary>
    Task<TokenizedBatch> Tokenize(IngestItem[] items, CancellationToken cancellationToken = default);

    /// <summary>The second half of <see cref="Ingest"/>: indexes images <see cref="Tokenize"/> returned.</summary>
    Task Write(IndexedImage[] images, CancellationToken cancellationToken = default);

    [AlwaysInterleave]
    Task<ShardStats> GetStats();
}

/// <summary>Runs text queries: the generator on the local model host, partitions fetched from the cluster.</summary>
public interface IQueryGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Answers within the silo's query deadline (<c>Avg__QueryTimeoutMs</c>): partitions that do not answer in time are
    /// left out or read from older copies, and the result says so. Cancelled, the search is dropped from the model host.
    /// </summary>
    Task<SearchResult> Search(SearchRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// Cancels the search of <paramref name="requestId"/> (<see cref="SearchRequest.RequestId"/>) running on this silo.
    /// A stateless worker's cancellation token may reach another activation than the one running the search; this
    /// reaches the silo's model host whichever activation takes it (a caller on the same silo, as the HTTP API is).
    /// </summary>
    [AlwaysInterleave, OneWay]
    Task Cancel(Guid requestId);

    Task<BundleInfo> GetBundleInfo();
}
