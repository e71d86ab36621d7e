using TorchSharp;
using static TorchSharp.torch;

namespace Avg.Models.Runtime;

/// <summary>
/// The tensor operations model code does with plain numbers, each number's <see cref="Scalar"/> held alive until
/// LibTorch has returned. Same operations, same arguments, same results as the operators and overloads they replace.
/// </summary>
/// <remarks>
/// TorchSharp (0.107) turns a number into a <see cref="Scalar"/>, a finalizable wrapper of a native
/// <c>c10::Scalar*</c>, and passes LibTorch only that pointer. Once the pointer is read nothing references the
/// wrapper, so a collection that another thread starts during the native call lets the finalizer delete the
/// c10::Scalar while LibTorch still reads it: "Expected false to be true … toFloat at c10/core/Scalar.h" or a wrong
/// value. Tensor + tensor does this too (its alpha of 1), as do <c>arange(stop)</c> and every operator with a number.
/// Model code uses these instead; a test keeps it that way.
/// </remarks>
internal static class HeldScalars
{
    /// <summary>
    /// <paramref name="operation"/> of <paramref name="value"/>, which is disposed after it returns: held alive until
    /// then, so the finalizer cannot delete the native scalar while LibTorch reads it.
    /// </summary>
    private static Tensor Held(Scalar value, Func<Scalar, Tensor> operation)
    {
        using (value)
        {
            return operation(value);
        }
    }

    /// <summary><paramref name="left"/> + <paramref name="right"/> (alpha 1).</summary>
    public static Tensor Plus(this Tensor left, Tensor right)
    {
        using var one = 1.ToScalar();
        return left.add(right, one);
    }

    public static Tensor Plus(this Tensor left, double right)
    {
        using var value = right.ToScalar();
        using var one = 1.ToScalar();
        return left.add(value, one);
    }

    public static Tensor Minus(this Tensor left, double right) => Held(right.ToScalar(), left.sub);

    public static Tensor Times(this Tensor left, int right) => Held(right.ToScalar(), left.mul);

    public static Tensor Times(this Tensor left, double right) => Held(right.ToScalar(), left.mul);

    public static Tensor DividedBy(this Tensor left, int right) => Held(right.ToScalar(), value => left.div(value));

    public static Tensor DividedBy(this Tensor left, double right) => Held(right.ToScalar(), value => left.div(value));

    public static Tensor Pow(this Tensor tensor, int exponent) => Held(exponent.ToScalar(), tensor.pow);

    public static Tensor ClampMin(this Tensor tensor, int min) => Held(min.ToScalar(), tensor.clamp_min);

    public static Tensor ClampMax(this Tensor tensor, double max) => Held(max.ToScalar(), tensor.clamp_max);

    public static Tensor Eq(this Tensor tensor, int other) => Held(other.ToScalar(), tensor.eq);

    public static Tensor Ne(this Tensor tensor, int other) => Held(other.ToScalar(), tensor.ne);

    public static Tensor MaskedFill(this Tensor tensor, Tensor mask, double fill) => Held(fill.ToScalar(), value => tensor.masked_fill(mask, value));

    /// <summary>In place: adds the rows of <paramref name="source"/> at <paramref name="index"/> along <paramref name="dim"/> (alpha 1).</summary>
    public static Tensor IndexAddInPlace(this Tensor tensor, long dim, Tensor index, Tensor source)
    {
        using var one = 1.ToScalar();
        return tensor.index_add_(dim, index, source, one);
    }

    /// <summary>0, 1, …, <paramref name="stop"/> − 1 as int64.</summary>
    public static Tensor Arange(long stop, Device device) => Arange(0, stop, device);

    /// <summary><paramref name="start"/>, …, <paramref name="stop"/> − 1 as int64.</summary>
    public static Tensor Arange(long start, long stop, Device device)
    {
        using var from = start.ToScalar();
        using var to = stop.ToScalar();
        using var one = 1.ToScalar();
        return torch.arange(from, to, one, device: device);
    }

    /// <summary>A rows × columns tensor of <paramref name="fill"/>, of <paramref name="dtype"/> (default: torch's default float type).</summary>
    public static Tensor Full(long rows, long columns, double fill, Device device, ScalarType? dtype = null) => Held(fill.ToScalar(), value => torch.full(rows, columns, value, dtype, device));

    public static Tensor Full(long rows, long columns, int fill, Device device, ScalarType? dtype = null) => Held(fill.ToScalar(), value => torch.full(rows, columns, value, dtype, device));
}
