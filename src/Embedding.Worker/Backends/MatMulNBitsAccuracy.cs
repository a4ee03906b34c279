using System.Buffers;

namespace Embedding.Worker.Backends;

/// <summary>
/// Sets the <c>accuracy_level</c> attribute of every com.microsoft <c>MatMulNBits</c> node of an ONNX model, so a
/// weight-only 8-bit file (the public exports' <c>model_quantized.onnx</c>, accuracy level 0) can run ONNX Runtime's
/// int8 kernels (level 4: activations quantized per block of 32 to int8, int32 sums) instead of dequantizing every
/// weight to fp32 on every call. ONNX Runtime reads the level from the node only: its session option
/// <c>session.qdq_matmulnbits_accuracy_level</c> applies to nodes it fuses from DequantizeLinear + MatMul, not to
/// MatMulNBits nodes already in the file.
/// The model is rewritten in memory at the protobuf wire level (onnx.proto: ModelProto.graph = 7, GraphProto.node = 1,
/// NodeProto.op_type = 4, .domain = 7, .attribute = 5; AttributeProto.name = 1, .i = 3, .type = 20, INT = 2): every other
/// byte, the weights included, is copied as it is. Subgraphs (If/Loop bodies) are left alone: the exports have none.
/// </summary>
public static class MatMulNBitsAccuracy
{
    private const int WireVarint = 0, WireFixed64 = 1, WireLength = 2, WireFixed32 = 5;

    /// <summary>The accuracy levels of the file's MatMulNBits nodes (attribute absent = 0), without rewriting.</summary>
    public static IReadOnlyList<long> Levels(ReadOnlySpan<byte> model)
    {
        var levels = new List<long>();
        foreach (var (field, _, graph) in Fields(model))
            if (field == 7)
                foreach (var (gField, _, node) in Fields(graph))
                    if (gField == 1 && IsMatMulNBits(node)) levels.Add(LevelOf(node));
        return levels;
    }

    /// <summary>
    /// The model with every MatMulNBits node's accuracy_level set to <paramref name="level"/>; null when no node needs
    /// a change (none exists, or all have that level), so the caller loads the file as it is.
    /// </summary>
    public static byte[]? Rewrite(ReadOnlySpan<byte> model, long level, out int changed)
    {
        changed = 0;
        var output = new ArrayBufferWriter<byte>(model.Length + 4096);
        foreach (var (field, raw, graph) in Fields(model))
        {
            if (field != 7) { output.Write(raw); continue; }
            var newGraph = new ArrayBufferWriter<byte>(graph.Length + 4096);
            foreach (var (gField, gRaw, node) in Fields(graph))
            {
                if (gField == 1 && IsMatMulNBits(node) && LevelOf(node) != level)
                {
                    WriteLengthField(newGraph, 1, WithLevel(node, level));
                    changed++;
                }
                else newGraph.Write(gRaw);
            }
            WriteLengthField(output, 7, newGraph.WrittenSpan);
        }
        return changed == 0 ? null : output.WrittenSpan.ToArray();
    }

    private static bool IsMatMulNBits(ReadOnlySpan<byte> node)
    {
        bool op = false, microsoft = false;
        foreach (var (field, _, value) in Fields(node))
        {
            if (field == 4) op = value.SequenceEqual("MatMulNBits"u8);
            else if (field == 7) microsoft = value.SequenceEqual("com.microsoft"u8);
        }
        return op && microsoft;
    }

    private static long LevelOf(ReadOnlySpan<byte> node)
    {
        foreach (var (field, _, attribute) in Fields(node))
            if (field == 5 && IsNamed(attribute, "accuracy_level"u8))
                foreach (var (aField, aRaw, _) in Fields(attribute))
                    if (aField == 3) { var at = 0; ReadVarint(aRaw, ref at); return (long)ReadVarint(aRaw, ref at); }
        return 0;
    }

    private static bool IsNamed(ReadOnlySpan<byte> attribute, ReadOnlySpan<byte> name)
    {
        foreach (var (field, _, value) in Fields(attribute))
            if (field == 1) return value.SequenceEqual(name);
        return false;
    }

    private static byte[] WithLevel(ReadOnlySpan<byte> node, long level)
    {
        var output = new ArrayBufferWriter<byte>(node.Length + 32);
        foreach (var (field, raw, value) in Fields(node))
            if (!(field == 5 && IsNamed(value, "accuracy_level"u8))) output.Write(raw);
        var attribute = new ArrayBufferWriter<byte>(32);
        WriteLengthField(attribute, 1, "accuracy_level"u8);
        WriteVarint(attribute, 3 << 3 | WireVarint); WriteVarint(attribute, (ulong)level);
        WriteVarint(attribute, 20 << 3 | WireVarint); WriteVarint(attribute, 2);  // AttributeType.INT
        WriteLengthField(output, 5, attribute.WrittenSpan);
        return output.WrittenSpan.ToArray();
    }

    private static FieldEnumerable Fields(ReadOnlySpan<byte> message) => new(message);

    /// <summary>Walks a message's top-level fields over a span without copying: number, the field's bytes (tag
    /// included), and for length-delimited fields their payload.</summary>
    private readonly ref struct FieldEnumerable(ReadOnlySpan<byte> message)
    {
        private readonly ReadOnlySpan<byte> _message = message;
        public FieldEnumerator GetEnumerator() => new(_message);
    }

    private ref struct FieldEnumerator(ReadOnlySpan<byte> message)
    {
        private readonly ReadOnlySpan<byte> _message = message;
        private int _at;
        public Field Current { get; private set; }

        public bool MoveNext()
        {
            if (_at >= _message.Length) return false;
            var start = _at;
            var tag = ReadVarint(_message, ref _at);
            ReadOnlySpan<byte> payload = default;
            switch ((int)(tag & 7))
            {
                case WireVarint: ReadVarint(_message, ref _at); break;
                case WireFixed64: _at += 8; break;
                case WireFixed32: _at += 4; break;
                case WireLength:
                    var length = (long)ReadVarint(_message, ref _at);
                    if (length < 0 || _at + length > _message.Length) throw Malformed();
                    payload = _message.Slice(_at, (int)length);
                    _at += (int)length;
                    break;
                default: throw Malformed();
            }
            if (_at > _message.Length) throw Malformed();
            Current = new Field((int)(tag >> 3), _message[start.._at], payload);
            return true;
        }
    }

    private readonly ref struct Field(int number, ReadOnlySpan<byte> raw, ReadOnlySpan<byte> payload)
    {
        private readonly ReadOnlySpan<byte> _raw = raw, _payload = payload;

        public void Deconstruct(out int number_, out ReadOnlySpan<byte> raw_, out ReadOnlySpan<byte> payload_)
        {
            number_ = number;
            raw_ = _raw;
            payload_ = _payload;
        }
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> span, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (at >= span.Length) throw Malformed();
            var b = span[at++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80) return value;
        }
        throw Malformed();
    }

    private static void WriteVarint(IBufferWriter<byte> output, ulong value)
    {
        Span<byte> buffer = stackalloc byte[10];
        var n = 0;
        do
        {
            var b = (byte)(value & 0x7f);
            value >>= 7;
            buffer[n++] = value == 0 ? b : (byte)(b | 0x80);
        } while (value != 0);
        output.Write(buffer[..n]);
    }

    private static void WriteLengthField(IBufferWriter<byte> output, int field, ReadOnlySpan<byte> payload)
    {
        WriteVarint(output, (ulong)(field << 3 | WireLength));
        WriteVarint(output, (ulong)payload.Length);
        output.Write(payload);
    }

    private static InvalidDataException Malformed() => new("The ONNX file is not a well-formed protobuf ModelProto.");
}
