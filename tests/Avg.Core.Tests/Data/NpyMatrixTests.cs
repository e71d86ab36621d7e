using System.Text;
using Avg.Data;
using Avg.Tests.Support;

namespace Avg.Core.Tests.Data;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class NpyMatrixTests
{
    [Fact]
    public void Write_then_read_round_trips_and_rows_stream()
    {
        using var dir = new TempDirectory();
        var data = Enumerable.Range(0, 15).Select(i => i * 0.5f).ToArray();
        NpyMatrix.Write(dir.File("m.npy"), data, 5, 3);

        using var matrix = NpyMatrix.Open(dir.File("m.npy"));
        matrix.Rows.ShouldBe(5);
        matrix.Columns.ShouldBe(3);
        matrix.ReadAll().ShouldBe(data);
        var row = new float[3];
        matrix.ReadRows(3, 1, row);
        row.ShouldBe([4.5f, 5f, 5.5f]);
        // Header padded so the data starts on a 64-byte boundary, as numpy writes it.
        ((new FileInfo(dir.File("m.npy")).Length - (15 * 4)) % 64).ShouldBe(0);
    }

    [Fact]
    public void Reads_a_file_written_by_numpy()
    {
        // np.save of np.arange(6, dtype=np.float32).reshape(2, 3), byte for byte.
        using var dir = new TempDirectory();
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".PadRight(117) + "\n";
        var bytes = new List<byte> { 0x93 };
        bytes.AddRange(Encoding.ASCII.GetBytes("NUMPY"));
        bytes.AddRange([1, 0, (byte)header.Length, 0]);
        bytes.AddRange(Encoding.ASCII.GetBytes(header));
        for (var i = 0; i < 6; i++) bytes.AddRange(BitConverter.GetBytes((float)i));
        File.WriteAllBytes(dir.File("np.npy"), bytes.ToArray());

        NpyMatrix.Read(dir.File("np.npy"), expectedRows: 2, expectedColumns: 3).ShouldBe([0f, 1f, 2f, 3f, 4f, 5f]);
    }

    [Theory]
    [InlineData("<f8", "(2, 3)", "dtype '<f8' (float64), expected float32")]
    [InlineData("<i4", "(2, 3)", "dtype '<i4' (int32), expected float32")]
    [InlineData("<f4", "(2, 3, 1)", "expected 2 dimensions")]
    [InlineData("<f4", "(6,)", "expected 2 dimensions")]
    public void Wrong_dtype_or_shape_is_refused_with_what_was_found(string dtype, string shape, string expected)
    {
        using var dir = new TempDirectory();
        NpyFixtures.WriteRaw(dir.File("bad.npy"), dtype, shape, payloadBytes: 48);
        var error = Should.Throw<DataFormatException>(() => NpyMatrix.Open(dir.File("bad.npy")));
        error.Message.ShouldStartWith(dir.File("bad.npy"));
        error.Message.ShouldContain(expected);
    }

    [Fact]
    public void Not_an_npy_file_and_truncated_data_are_refused()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("text.npy"), "hello, world");
        Should.Throw<DataFormatException>(() => NpyMatrix.Open(dir.File("text.npy"))).Message.ShouldContain("not a .npy file");

        NpyFixtures.WriteRaw(dir.File("short.npy"), "<f4", "(10, 3)", payloadBytes: 8);
        Should.Throw<DataFormatException>(() => NpyMatrix.Open(dir.File("short.npy"))).Message.ShouldContain("truncated");
    }

    [Fact]
    public void Wrong_row_count_names_expected_and_found()
    {
        using var dir = new TempDirectory();
        NpyMatrix.Write(dir.File("m.npy"), new float[12], 4, 3);
        var message = Should.Throw<DataFormatException>(() => NpyMatrix.Read(dir.File("m.npy"), expectedRows: 5, rowsMeaning: "image")).Message;
        message.ShouldContain("has 4 rows, expected 5 (one per image)");
    }
}
