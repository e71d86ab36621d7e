using System.IO.Compression;
using System.Text;

namespace Avg.Cluster.Storage;

/// <summary>
/// One change to a partition: images added or replaced and ids removed, stamped with the revision it makes; with
/// <paramref name="FineLevels"/> fine codes per image (row i of <paramref name="FineCodes"/>) when the bundle has them.
/// </summary>
public sealed record PartitionRecord(long Revision, int Levels, string[] Ids, int[] Vokens, string?[] Uris, string[] Removed, int FineLevels = 0, byte[]? FineCodes = null)
{
    public byte[] Fine => FineCodes ?? [];
}

/// <summary>
/// The binary form of the index logs' records. A partition change: kind, revision, depth, then (id, URI, vokens)
/// per image and the removed ids, with 7-bit varints; a base is the same record of every image, Deflate-compressed.
/// Records with fine codes have their own kinds: the fine levels L after the depth, and L bytes after each image's vokens
/// (records without them are byte for byte as before fine codes existed, so either build reads the other's).
/// A directory change: (id, partition + 1) pairs, 0 meaning removed; a base likewise compressed.
/// </summary>
public static class IndexLogRecords
{
    private const byte PartitionChange = 1;
    private const byte PartitionBase = 2;
    private const byte DirectoryChange = 3;
    private const byte DirectoryBase = 4;
    private const byte PartitionChangeFine = 5;
    private const byte PartitionBaseFine = 6;

    public static byte[] EncodePartition(PartitionRecord record, bool asBase)
    {
        ArgumentNullException.ThrowIfNull(record);
        var levels = record.FineLevels;
        if (record.Fine.Length != record.Ids.Length * levels)
        {
            throw new ArgumentException($"{record.Ids.Length} images of {levels} fine codes need {record.Ids.Length * levels} bytes, got {record.Fine.Length}.", nameof(record));
        }

        var kind = levels > 0 ? (asBase ? PartitionBaseFine : PartitionChangeFine) : (asBase ? PartitionBase : PartitionChange);
        return Encode(kind, asBase, writer =>
        {
            writer.Write7BitEncodedInt64(record.Revision);
            writer.Write7BitEncodedInt(record.Levels);
            if (levels > 0)
            {
                writer.Write7BitEncodedInt(levels);
            }

            writer.Write7BitEncodedInt(record.Ids.Length);
            for (var i = 0; i < record.Ids.Length; i++)
            {
                writer.Write(record.Ids[i]);
                WriteNullable(writer, record.Uris[i]);
                for (var d = 0; d < record.Levels; d++)
                {
                    writer.Write7BitEncodedInt(record.Vokens[(i * record.Levels) + d]);
                }

                writer.Write(record.Fine, i * levels, levels);
            }

            writer.Write7BitEncodedInt(record.Removed.Length);
            foreach (var id in record.Removed)
            {
                writer.Write(id);
            }
        });
    }

    public static PartitionRecord DecodePartition(byte[] bytes, string source)
    {
        var withFine = bytes is [PartitionChangeFine or PartitionBaseFine, ..];
        return Decode(bytes, source, withFine ? PartitionChangeFine : PartitionChange, withFine ? PartitionBaseFine : PartitionBase, reader =>
        {
            var revision = reader.Read7BitEncodedInt64();
            var depth = reader.Read7BitEncodedInt();
            var levels = withFine ? reader.Read7BitEncodedInt() : 0;
            var count = reader.Read7BitEncodedInt();
            var ids = new string[count];
            var uris = new string?[count];
            var vokens = new int[count * depth];
            var fine = new byte[count * levels];
            for (var i = 0; i < count; i++)
            {
                ids[i] = reader.ReadString();
                uris[i] = ReadNullable(reader);
                for (var d = 0; d < depth; d++)
                {
                    vokens[(i * depth) + d] = reader.Read7BitEncodedInt();
                }

                if (levels > 0)
                {
                    var codes = reader.ReadBytes(levels);
                    if (codes.Length != levels)
                    {
                        throw new EndOfStreamException("The record ends inside an image's fine codes.");
                    }

                    codes.CopyTo(fine, i * levels);
                }
            }

            var removed = new string[reader.Read7BitEncodedInt()];
            for (var i = 0; i < removed.Length; i++)
            {
                removed[i] = reader.ReadString();
            }

            return new PartitionRecord(revision, depth, ids, vokens, uris, removed, levels, fine);
        });
    }

    /// <summary>A directory change or base: partition −1 means the id was removed.</summary>
    public static byte[] EncodeDirectory(IReadOnlyList<(string Id, int Partition)> entries, bool asBase)
    {
        ArgumentNullException.ThrowIfNull(entries);
        return Encode(asBase ? DirectoryBase : DirectoryChange, asBase, writer =>
        {
            writer.Write7BitEncodedInt(entries.Count);
            foreach (var (id, partition) in entries)
            {
                writer.Write(id);
                writer.Write7BitEncodedInt(partition + 1);
            }
        });
    }

    public static (string Id, int Partition)[] DecodeDirectory(byte[] bytes, string source)
    {
        return Decode(bytes, source, DirectoryChange, DirectoryBase, reader =>
        {
            var entries = new (string, int)[reader.Read7BitEncodedInt()];
            for (var i = 0; i < entries.Length; i++)
            {
                entries[i] = (reader.ReadString(), reader.Read7BitEncodedInt() - 1);
            }

            return entries;
        });
    }

    private static byte[] Encode(byte kind, bool compress, Action<BinaryWriter> body)
    {
        using var buffer = new MemoryStream();
        buffer.WriteByte(kind);
        if (compress)
        {
            using var deflate = new DeflateStream(buffer, CompressionLevel.Fastest, leaveOpen: true);
            using var writer = new BinaryWriter(deflate, Encoding.UTF8, leaveOpen: true);
            body(writer);
        }
        else
        {
            using var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true);
            body(writer);
        }

        return buffer.ToArray();
    }

    private static T Decode<T>(byte[] bytes, string source, byte change, byte baseKind, Func<BinaryReader, T> body)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length == 0 || (bytes[0] != change && bytes[0] != baseKind))
        {
            throw new AvgException($"Stored record of {source} is not an index log record (kind {(bytes.Length == 0 ? "none" : bytes[0])}); was the storage written by another program?");
        }

        try
        {
            using var stream = new MemoryStream(bytes, 1, bytes.Length - 1, writable: false);
            using Stream content = bytes[0] == baseKind ? new DeflateStream(stream, CompressionMode.Decompress) : stream;
            using var reader = new BinaryReader(content, Encoding.UTF8);
            return body(reader);
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException or FormatException or IOException)
        {
            throw new AvgException($"Stored record of {source} is damaged ({e.Message}).", e);
        }
    }

    private static void WriteNullable(BinaryWriter writer, string? value)
    {
        writer.Write(value is not null);
        if (value is not null)
        {
            writer.Write(value);
        }
    }

    private static string? ReadNullable(BinaryReader reader) => reader.ReadBoolean() ? reader.ReadString() : null;
}
