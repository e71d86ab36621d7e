namespace Avg.Retrieval;

/// <summary>How two keys of equal score rank: the tie-break of a <see cref="BoundedTopK{TTieBreak}"/>.</summary>
public interface IKeyTieBreak
{
    /// <summary>Whether <paramref name="key"/> ranks before <paramref name="other"/> when their scores are equal.</summary>
    bool Before(int key, int other);
}

/// <summary>Equal scores rank the smaller key first (exact search: the lower row).</summary>
public readonly struct SmallerKeyFirst : IKeyTieBreak
{
    public bool Before(int key, int other) => key < other;
}

/// <summary>
/// The k best (score, key, payload) items offered, higher score first and the tie-break after it, in a min-heap by
/// ranking over flat arrays (the worst kept item on top): O(log k) an offer and nothing allocated after construction.
/// The constrained beam search keeps each level's beams in one (payload: the parent beam), exact search its top-k.
/// A struct tie-break is specialised by the JIT, so the comparison costs no interface call.
/// </summary>
public sealed class BoundedTopK<TTieBreak>
    where TTieBreak : struct, IKeyTieBreak
{
    private readonly float[] _score;
    private readonly int[] _key;
    private readonly int[] _payload;
    private readonly TTieBreak _tieBreak;
    private int _limit;

    public BoundedTopK(int capacity, TTieBreak tieBreak = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _score = new float[capacity];
        _key = new int[capacity];
        _payload = new int[capacity];
        _tieBreak = tieBreak;
        _limit = capacity;
    }

    /// <summary>Items kept now (at most the limit of the last <see cref="Reset"/>).</summary>
    public int Count { get; private set; }

    /// <summary>Empties it and keeps at most <paramref name="k"/> (≤ capacity) from now on.</summary>
    public void Reset(int k)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(k, _score.Length);
        _limit = k;
        Count = 0;
    }

    /// <summary>Keeps the item if fewer than k are kept or it ranks before the worst kept one (which it then replaces).</summary>
    public void Offer(float score, int key, int payload)
    {
        if (Count < _limit)
        {
            SiftUp(Count++, score, key, payload);
        }
        else if (Count > 0 && IsBetter(score, key, _score[0], _key[0]))
        {
            SiftDown(0, Count, score, key, payload);
        }
    }

    /// <summary>Removes and returns the worst kept item: popping all of them gives the ranking worst-first.</summary>
    public (float Score, int Key, int Payload) PopWorst()
    {
        if (Count == 0)
        {
            throw new InvalidOperationException("Nothing is kept.");
        }

        var top = (_score[0], _key[0], _payload[0]);
        var last = --Count;
        if (last > 0)
        {
            SiftDown(0, last, _score[last], _key[last], _payload[last]);
        }

        return top;
    }

    private bool IsBetter(float score, int key, float otherScore, int otherKey) =>
        score > otherScore || (score == otherScore && _tieBreak.Before(key, otherKey));

    private void SiftUp(int i, float score, int key, int payload)
    {
        while (i > 0)
        {
            var up = (i - 1) / 2;
            if (!IsBetter(_score[up], _key[up], score, key))
            {
                break;
            }

            Move(up, i);
            i = up;
        }

        Put(i, score, key, payload);
    }

    private void SiftDown(int i, int size, float score, int key, int payload)
    {
        while (true)
        {
            var child = (2 * i) + 1;
            if (child >= size)
            {
                break;
            }

            if (child + 1 < size && IsBetter(_score[child], _key[child], _score[child + 1], _key[child + 1]))
            {
                child++;
            }

            if (!IsBetter(score, key, _score[child], _key[child]))
            {
                break;
            }

            Move(child, i);
            i = child;
        }

        Put(i, score, key, payload);
    }

    private void Move(int from, int to)
    {
        _score[to] = _score[from];
        _key[to] = _key[from];
        _payload[to] = _payload[from];
    }

    private void Put(int i, float score, int key, int payload)
    {
        _score[i] = score;
        _key[i] = key;
        _payload[i] = payload;
    }
}
