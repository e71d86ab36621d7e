namespace Avg.Http;

// The image reads of docs/http-api.md. The client SDK returns GET /v1/images/{id} as an Avg.Client.IndexedImage; the
// neighbours are read by the search page only.

/// <summary>GET /v1/images/{id} response.</summary>
public sealed record ImageBody(string Id, int[] Vokens, int Partition, string? Uri);

/// <summary>GET /v1/images/{id}/neighbours response: the image and its nearest images by shared voken prefix.</summary>
public sealed record NeighboursBody(string Id, int[] Vokens, int Partition, string? Uri, IReadOnlyList<NeighbourBody> Neighbours);

/// <summary>One neighbour: <paramref name="SharedPrefix"/> is how many leading vokens it shares with the image.</summary>
public sealed record NeighbourBody(string Id, int[] Vokens, string? Uri, int SharedPrefix);
