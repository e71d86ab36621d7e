namespace Avg.Quantization;

/// <summary>
/// Balanced assignment of the last voken: where images share a whole sequence, each one after the first moves to
/// the nearest last-level code that no image under the same prefix holds, so fewer images share a leaf. Only the
/// last voken changes, and only to a code close to the image's own residual, so the identifier stays a fair
/// description of the image (docs/design.md §1.5 "Collisions": collisions are served either way; this makes them
/// rarer).
/// </summary>
/// <remarks>
/// Greedy and deterministic: within a prefix, images claim codes in order of how well their first choice fits
/// (distance, then row), each taking its nearest free candidate; an image whose candidates are all taken keeps
/// its first choice and stays a collision.
/// </remarks>
public static class CollisionBalancer
{
    /// <summary>
    /// Reassigns last vokens in place of a copy and returns it.
    /// </summary>
    /// <param name="vokens">Rows of <paramref name="levels"/> vokens, flat (the tokenizer's nearest-code choice).</param>
    /// <param name="candidates">Per row, the <paramref name="candidateCount"/> nearest last-level codes, nearest first (the first is the row's own last voken).</param>
    /// <param name="distances">Per row, the squared distances of those candidates, ascending.</param>
    public static int[] Assign(ReadOnlySpan<int> vokens, int levels, ReadOnlySpan<int> candidates, ReadOnlySpan<float> distances, int candidateCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(levels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(candidateCount, 1);
        if (vokens.Length % levels != 0) throw new ArgumentException($"vokens has {vokens.Length} entries, not a multiple of M = {levels}.", nameof(vokens));
        var rows = vokens.Length / levels;
        if (candidates.Length != rows * candidateCount || distances.Length != rows * candidateCount)
            throw new ArgumentException($"candidates and distances need {rows} × {candidateCount} entries, got {candidates.Length} and {distances.Length}.");

        var result = vokens.ToArray();
        var last = levels - 1;
        for (var r = 0; r < rows; r++)
        {
            if (candidates[r * candidateCount] != vokens[(r * levels) + last])
                throw new ArgumentException($"row {r}: the first candidate ({candidates[r * candidateCount]}) is not the row's last voken ({vokens[(r * levels) + last]}).", nameof(candidates));
        }

        // Group rows by their first M − 1 vokens.
        var groups = new Dictionary<PrefixKey, List<int>>();
        for (var r = 0; r < rows; r++)
        {
            var key = new PrefixKey(result, r * levels, last);
            if (!groups.TryGetValue(key, out var members)) groups[key] = members = [];
            members.Add(r);
        }

        var takenByGroup = new HashSet<int>();
        var candidateArray = candidates.ToArray();
        var distanceArray = distances.ToArray();
        foreach (var members in groups.Values)
        {
            if (members.Count < 2) continue;
            members.Sort((a, b) =>
            {
                var byFit = distanceArray[a * candidateCount].CompareTo(distanceArray[b * candidateCount]);
                return byFit != 0 ? byFit : a.CompareTo(b);
            });
            takenByGroup.Clear();
            foreach (var row in members)
            {
                var chosen = candidateArray[row * candidateCount];
                for (var c = 0; c < candidateCount; c++)
                {
                    var code = candidateArray[(row * candidateCount) + c];
                    if (!takenByGroup.Contains(code))
                    {
                        chosen = code;
                        break;
                    }
                }
                takenByGroup.Add(chosen);
                result[(row * levels) + last] = chosen;
            }
        }
        return result;
    }

    /// <summary>Hashable view of a row's first vokens.</summary>
    private readonly struct PrefixKey(int[] source, int start, int length) : IEquatable<PrefixKey>
    {
        private readonly int[] _source = source;
        private readonly int _start = start;
        private readonly int _length = length;

        public bool Equals(PrefixKey other) => _source.AsSpan(_start, _length).SequenceEqual(other._source.AsSpan(other._start, other._length));

        public override bool Equals(object? obj) => obj is PrefixKey other && Equals(other);

        public override int GetHashCode()
        {
            var hash = new HashCode();
            foreach (var v in _source.AsSpan(_start, _length)) hash.Add(v);
            return hash.ToHashCode();
        }
    }
}
