using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Avg.Data;

/// <summary>
/// A 2-D little-endian float32 <c>.npy</c> file (rows × columns, C order), read row by row so large feature
/// files never have to be held in memory at once.
/// </summary>
public sealed partial class NpyMatrix : IDisposable
{
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];
    private readonly FileStream _stream;
    private readonly long _dataOffset;

    private NpyMatrix(string path, FileStream stream, long dataOffset, int rows, int columns)
    {
        Path = path;
        _stream = stream;
        _dataOffset = dataOffset;
        Rows = rows;
        Columns = columns;
    }

    public string Path { get; }

    public int Rows { get; }

    public int Columns { get; }

    /// <summary>Opens and validates the header: dtype must be float32 ('&lt;f4'), C order, two dimensions.</summary>
    public static NpyMatrix Open(string path)
    {
        if (!File.Exists(path)) throw new DataFormatException(path, "file not found; expected a float32 .npy feature file");
        var stream = File.OpenRead(path);
        try
        {
            var (offset, rows, columns) = ReadHeader(path, stream);
            var expectedBytes = offset + (long)rows * columns * sizeof(float);
            if (stream.Length < expectedBytes)
                throw new DataFormatException(path, $"truncated: header says {rows}×{columns} float32 ({expectedBytes} bytes with header), file has {stream.Length} bytes");
            return new NpyMatrix(path, stream, offset, rows, columns);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Reads rows [start, start + count) into <paramref name="destination"/> (count × Columns floats).</summary>
    public void ReadRows(int start, int count, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        if (start + count > Rows) throw new ArgumentOutOfRangeException(nameof(count), $"rows {start}..{start + count} exceed {Rows}");
        var floats = count * Columns;
        if (destination.Length < floats) throw new ArgumentException("destination too small", nameof(destination));
        _stream.Position = _dataOffset + (long)start * Columns * sizeof(float);
        var bytes = MemoryMarshal.AsBytes(destination[..floats]);
        _stream.ReadExactly(bytes);
        if (!BitConverter.IsLittleEndian)
        {
            for (var i = 0; i < floats; i++)
                destination[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.Slice(i * 4, 4));
        }
    }

    /// <summary>Reads the whole matrix (rows × columns, row-major).</summary>
    public float[] ReadAll()
    {
        var all = new float[(long)Rows * Columns];
        const int chunk = 4096;
        for (var r = 0; r < Rows; r += chunk)
        {
            var n = Math.Min(chunk, Rows - r);
            ReadRows(r, n, all.AsSpan(r * Columns, n * Columns));
        }
        return all;
    }

    /// <summary>Reads a whole float32 .npy file, checking its shape when expectations are given.</summary>
    public static float[] Read(string path, int? expectedRows = null, int? expectedColumns = null, string? rowsMeaning = null)
    {
        using var matrix = Open(path);
        matrix.ExpectShape(expectedRows, expectedColumns, rowsMeaning);
        return matrix.ReadAll();
    }

    /// <summary>Throws a user-facing error if the shape differs from what the dataset needs.</summary>
    public void ExpectShape(int? rows, int? columns, string? rowsMeaning = null)
    {
        if (rows is { } r && r != Rows)
            throw new DataFormatException(Path, $"has {Rows} rows, expected {r}{(rowsMeaning is null ? "" : $" (one per {rowsMeaning})")}");
        if (columns is { } c && c != Columns)
            throw new DataFormatException(Path, $"has {Columns} columns, expected {c} (the feature width)");
    }

    /// <summary>Writes a float32 C-order 2-D .npy file (format 1.0).</summary>
    public static void Write(string path, ReadOnlySpan<float> data, int rows, int columns)
    {
        if ((long)rows * columns != data.Length)
            throw new ArgumentException($"data has {data.Length} floats, expected {rows}×{columns}", nameof(data));
        var dict = string.Create(CultureInfo.InvariantCulture, $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {columns}), }}");
        // Total header (magic 6 + version 2 + length 2 + dict + '\n') padded with spaces to a multiple of 64.
        var unpadded = 10 + dict.Length + 1;
        var padded = (unpadded + 63) / 64 * 64;
        var header = dict + new string(' ', padded - unpadded) + "\n";
        using var file = File.Create(path);
        file.Write(Magic);
        file.Write([1, 0]);
        Span<byte> len = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)header.Length);
        file.Write(len);
        file.Write(Encoding.ASCII.GetBytes(header));
        if (BitConverter.IsLittleEndian)
        {
            file.Write(MemoryMarshal.AsBytes(data));
        }
        else
        {
            var buffer = new byte[4];
            foreach (var value in data)
            {
                BinaryPrimitives.WriteSingleLittleEndian(buffer, value);
                file.Write(buffer);
            }
        }
    }

    public void Dispose() => _stream.Dispose();

    private static (long Offset, int Rows, int Columns) ReadHeader(string path, FileStream stream)
    {
        Span<byte> prefix = stackalloc byte[10];
        if (stream.Read(prefix) < 10 || !prefix[..6].SequenceEqual(Magic))
            throw new DataFormatException(path, "not a .npy file (missing the \\x93NUMPY magic); expected a float32 .npy feature file");
        var major = prefix[6];
        int headerLength;
        long offset;
        if (major == 1)
        {
            headerLength = BinaryPrimitives.ReadUInt16LittleEndian(prefix[8..10]);
            offset = 10 + headerLength;
        }
        else if (major is 2 or 3)
        {
            Span<byte> rest = stackalloc byte[2];
            stream.ReadExactly(rest);
            headerLength = (int)BinaryPrimitives.ReadUInt32LittleEndian([prefix[8], prefix[9], rest[0], rest[1]]);
            offset = 12 + headerLength;
        }
        else
        {
            throw new DataFormatException(path, $".npy format version {major}.{prefix[7]} is not supported; expected 1.x, 2.x or 3.x");
        }
        if (headerLength <= 0 || headerLength > 1 << 20)
            throw new DataFormatException(path, $"corrupt .npy header length {headerLength}");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        var header = Encoding.Latin1.GetString(headerBytes);

        var descr = DescrPattern().Match(header);
        var fortran = FortranPattern().Match(header);
        var shape = ShapePattern().Match(header);
        if (!descr.Success || !fortran.Success || !shape.Success)
            throw new DataFormatException(path, $"unreadable .npy header '{header.Trim()}'");
        var dtype = descr.Groups[1].Value;
        if (dtype is not ("<f4" or "|f4" or "=f4"))
            throw new DataFormatException(path, $"has dtype '{dtype}' ({DescribeDtype(dtype)}), expected float32 ('<f4'); convert with numpy: a.astype(np.float32)");
        if (fortran.Groups[1].Value == "True")
            throw new DataFormatException(path, "is in Fortran (column-major) order, expected C order; save with np.ascontiguousarray(a)");
        var dims = shape.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (dims.Length != 2)
            throw new DataFormatException(path, $"has shape ({shape.Groups[1].Value.Trim()}), expected 2 dimensions (rows, feature width)");
        if (!int.TryParse(dims[0], NumberStyles.None, CultureInfo.InvariantCulture, out var rows) ||
            !int.TryParse(dims[1], NumberStyles.None, CultureInfo.InvariantCulture, out var columns) || columns == 0)
        {
            throw new DataFormatException(path, $"has shape ({shape.Groups[1].Value.Trim()}), expected positive (rows, feature width)");
        }

        return (offset, rows, columns);
    }

    private static string DescribeDtype(string dtype) => dtype.TrimStart('<', '>', '|', '=') switch
    {
        "f8" => "float64",
        "f2" => "float16",
        "i4" => "int32",
        "i8" => "int64",
        "u1" => "uint8",
        _ when dtype.StartsWith('>') => "big-endian",
        _ => "not float32",
    };

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrPattern();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranPattern();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
