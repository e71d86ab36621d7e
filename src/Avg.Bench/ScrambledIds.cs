using Avg.Retrieval;

namespace Avg.Bench;

/// <summary>
/// The image ids the benchmarks index under: row i of the image list gets id (i · 2654435761) mod 2³¹, a fixed
/// bijection. Queries are made from the first images, so with ids equal to rows the images of a shared voken sequence,
/// which come in ascending id order when nothing else ranks them, would put every query's own image first: the id
/// order would leak the answer. Scrambled, it carries no information about which image a query was made from.
/// </summary>
public static class ScrambledIds
{
    private const long Multiplier = 2654435761;
    private const long Mask = (1L << 31) - 1;
    private static readonly long Inverse = InverseOf(Multiplier);

    public static long IdOf(int row) => (row * Multiplier) & Mask;

    public static int RowOf(long id) => (int)((id * Inverse) & Mask);

    /// <summary>Fine codes kept by row, looked up by scrambled id.</summary>
    public sealed class FineCodes(RowFineCodes byRow) : IFineCodeLookup
    {
        public ReadOnlySpan<byte> FineCodesOf(long imageId) => byRow.FineCodesOf(RowOf(imageId));
    }

    /// <summary>x with a·x ≡ 1 (mod 2³¹) for odd a (Newton's iteration doubles the correct low bits each step).</summary>
    private static long InverseOf(long a)
    {
        var x = a;
        for (var i = 0; i < 5; i++)
        {
            x = (x * (2 - (a * x))) & Mask;
        }

        return x;
    }
}
