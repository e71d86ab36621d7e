namespace Avg.Models.Encoders.Pretrained;

/// <summary>
/// Makes the first dimension of an ONNX graph's inputs and outputs symbolic, so a model exported for batch 1 runs
/// on batches. ResNet18.onnx (a CNTK export) declares [1, 3, 224, 224] and ONNX Runtime enforces declared shapes;
/// its graph has no reshape that bakes the batch in (only Conv, BatchNormalization, Relu, pooling and Add), so only
/// the declarations change. The graph's intermediate shape hints (value_info) are dropped; the runtime infers them.
/// </summary>
/// <remarks>
/// Edits the protobuf in place of an ONNX library: ModelProto.graph = 7; GraphProto.input = 11, output = 12,
/// value_info = 13; ValueInfoProto.type = 2; TypeProto.tensor_type = 1; TypeProto.Tensor.shape = 2;
/// TensorShapeProto.dim = 1; Dimension.dim_param = 2. Every other byte is copied unchanged.
/// </remarks>
internal static class OnnxBatchDimension
{
    private const int WireVarint = 0, WireFixed64 = 1, WireLength = 2, WireFixed32 = 5;
    private const int ModelGraph = 7, GraphInput = 11, GraphOutput = 12, GraphValueInfo = 13;
    private const int ValueInfoType = 2, TypeTensor = 1, TensorShape = 2, ShapeDim = 1, DimParam = 2;

    public static byte[] MakeDynamic(byte[] model, string name = "batch")
    {
        ArgumentNullException.ThrowIfNull(model);
        var dimension = LengthField(DimParam, System.Text.Encoding.UTF8.GetBytes(name));
        return Rewrite(model, field => field.Number == ModelGraph && field.Wire == WireLength
            ? LengthField(ModelGraph, RewriteGraph(field.Payload(model).ToArray(), dimension))
            : null);
    }

    private static byte[] RewriteGraph(byte[] graph, byte[] dimension) => Rewrite(graph, field => field.Number switch
    {
        GraphInput or GraphOutput when field.Wire == WireLength =>
            LengthField(field.Number, Nested(field.Payload(graph).ToArray(), [ValueInfoType, TypeTensor, TensorShape], dimension)),
        GraphValueInfo => [],
        _ => null,
    });

    /// <summary>Follows <paramref name="path"/> down nested messages and replaces the first dim of the shape found there.</summary>
    private static byte[] Nested(byte[] message, int[] path, byte[] dimension)
    {
        if (path.Length == 0)
        {
            var replaced = false;
            return Rewrite(message, dim =>
            {
                if (dim.Number != ShapeDim || replaced) return null;
                replaced = true;
                return LengthField(ShapeDim, dimension);
            });
        }
        return Rewrite(message, field => field.Number == path[0] && field.Wire == WireLength
            ? LengthField(field.Number, Nested(field.Payload(message).ToArray(), path[1..], dimension))
            : null);
    }

    /// <summary>Copies <paramref name="message"/> field by field; where <paramref name="replace"/> gives bytes, they stand in for the field.</summary>
    private static byte[] Rewrite(ReadOnlySpan<byte> message, Func<Field, byte[]?> replace)
    {
        var output = new MemoryStream(message.Length + 64);
        var position = 0;
        while (position < message.Length)
        {
            var field = Read(message, position);
            var replacement = replace(field);
            if (replacement is null) output.Write(message[field.Start..field.End]);
            else output.Write(replacement);
            position = field.End;
        }
        return output.ToArray();
    }

    private static Field Read(ReadOnlySpan<byte> message, int start)
    {
        var position = start;
        var tag = ReadVarint(message, ref position);
        var wire = (int)(tag & 7);
        int payloadStart = position, payloadLength;
        switch (wire)
        {
            case WireVarint: ReadVarint(message, ref position); payloadLength = position - payloadStart; break;
            case WireFixed64: payloadLength = 8; break;
            case WireFixed32: payloadLength = 4; break;
            case WireLength:
                payloadLength = checked((int)ReadVarint(message, ref position));
                payloadStart = position;
                break;
            default: throw new InvalidDataException($"unsupported protobuf wire type {wire} at byte {start}");
        }
        if (payloadStart + payloadLength > message.Length) throw new InvalidDataException($"protobuf field at byte {start} runs past the end");
        return new Field((int)(tag >> 3), wire, start, payloadStart, payloadLength);
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> bytes, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            var b = bytes[position++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80) return value;
        }
        throw new InvalidDataException("malformed protobuf varint");
    }

    private static byte[] LengthField(int number, ReadOnlySpan<byte> payload)
    {
        var output = new MemoryStream(payload.Length + 10);
        WriteVarint(output, ((ulong)number << 3) | WireLength);
        WriteVarint(output, (ulong)payload.Length);
        output.Write(payload);
        return output.ToArray();
    }

    private static void WriteVarint(MemoryStream output, ulong value)
    {
        while (value >= 0x80)
        {
            output.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        output.WriteByte((byte)value);
    }

    private readonly record struct Field(int Number, int Wire, int Start, int PayloadStart, int PayloadLength)
    {
        public int End => PayloadStart + PayloadLength;

        public ReadOnlySpan<byte> Payload(ReadOnlySpan<byte> message) => message.Slice(PayloadStart, PayloadLength);
    }
}
