using System.Text;

namespace Avg.Tests.Support;

/// <summary>Hand-made .npy files, including ones the reader must refuse.</summary>
public static class NpyFixtures
{
    /// <summary>Writes a .npy header with any dtype and shape text, followed by <paramref name="payloadBytes"/> zero bytes.</summary>
    public static void WriteRaw(string path, string dtype, string shape, int payloadBytes)
    {
        var header = $"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape}, }}";
        header = header.PadRight(((header.Length + 11 + 63) / 64 * 64) - 11) + "\n";
        using var file = File.Create(path);
        file.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)header.Length, (byte)(header.Length >> 8)]);
        file.Write(Encoding.ASCII.GetBytes(header));
        file.Write(new byte[payloadBytes]);
    }
}
