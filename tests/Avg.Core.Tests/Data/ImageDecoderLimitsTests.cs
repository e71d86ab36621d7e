using System.Buffers.Binary;
using Avg.Data;
using Avg.Tests.Support;
using SkiaSharp;

namespace Avg.Core.Tests.Data;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class ImageDecoderLimitsTests
{
    [Fact]
    public void A_truncated_image_is_refused_not_decoded_with_blank_rows()
    {
        var png = Png(64, 64);
        ImageDecoder.Decode(png, 32, new byte[ImageDecoder.BytesPerImage(32)], "whole.png");

        var cut = png[..(png.Length * 2 / 3)];
        Should.Throw<DataFormatException>(() => ImageDecoder.Decode(cut, 32, new byte[ImageDecoder.BytesPerImage(32)], "cut.png")).Message.ShouldContain("ends early");
    }

    [Fact]
    public void An_image_claiming_more_than_MaxPixels_is_refused_before_it_is_allocated()
    {
        var png = Png(8, 8);
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(16), 30_000);
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(20), 30_000);
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(29), Crc32(png.AsSpan(12, 17)));

        Should.Throw<DataFormatException>(() => ImageDecoder.Decode(png, 32, new byte[ImageDecoder.BytesPerImage(32)], "huge.png")).Message.ShouldContain("30000×30000");
    }

    /// <summary>The PNG chunk CRC (ISO 3309), so the edited header still reads as intact.</summary>
    private static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
            }
        }

        return ~crc;
    }

    private static byte[] Png(int width, int height)
    {
        using var bitmap = new SKBitmap(width, height);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                bitmap.SetPixel(x, y, new SKColor((byte)(x * 4), (byte)(y * 4), (byte)((x ^ y) * 4)));
            }
        }

        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
