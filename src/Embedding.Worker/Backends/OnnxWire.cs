using System.Buffers;

namespace Embedding.Worker.Backends;

/// <summary>
/// Reading and writing ONNX's protobuf messages at the wire level, for the load-time rewrites of a model
/// (<see cref="MatMulNBitsAccuracy"/>, <see cref="DynamicInt8"/>): fields are walked over a span without copying, so
/// every byte a rewrite does not touch (the weights, mostly) is copied as it is, and no ONNX protobuf package is needed.
/// </summary>
internal static class OnnxWire
{
    public const int WireVarint = 0, WireFixed64 = 1, WireLength = 2, WireFixed32 = 5;

    public static FieldEnumerable Fields(ReadOnlySpan<byte> message) => new(message);

    /// <summary>A message's top-level fields: number, wire type, the field's bytes (tag included), and for
    /// length-delimited fields their payload; varint fields carry their value.</summary>
    public readonly ref struct FieldEnumerable(ReadOnlySpan<byte> message)
    {
        private readonly ReadOnlySpan<byte> _message = message;
        public FieldEnumerator GetEnumerator() => new(_message);
    }

    public ref struct FieldEnumerator(ReadOnlySpan<byte> message)
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
            ulong value = 0;
            switch ((int)(tag & 7))
            {
                case WireVarint: value = ReadVarint(_message, ref _at); break;
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
            Current = new Field((int)(tag >> 3), (int)(tag & 7), _message[start.._at], payload, value);
            return true;
        }
    }

    public readonly ref struct Field(int number, int wireType, ReadOnlySpan<byte> raw, ReadOnlySpan<byte> payload, ulong value)
    {
        public int Number { get; } = number;
        public int WireType { get; } = wireType;
        public ReadOnlySpan<byte> Raw { get; } = raw;
        public ReadOnlySpan<byte> Payload { get; } = payload;
        public ulong Value { get; } = value;

        public void Deconstruct(out int number_, out ReadOnlySpan<byte> raw_, out ReadOnlySpan<byte> payload_)
        {
            number_ = Number;
            raw_ = Raw;
            payload_ = Payload;
        }
    }

    /// <summary>A repeated int64 field's values, packed or not (ONNX writers use both).</summary>
    public static void AddInt64s(in Field field, List<long> values)
    {
        if (field.WireType == WireVarint) { values.Add((long)field.Value); return; }
        var at = 0;
        while (at < field.Payload.Length) values.Add((long)ReadVarint(field.Payload, ref at));
    }

    public static ulong ReadVarint(ReadOnlySpan<byte> span, ref int at)
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

    public static void WriteVarint(IBufferWriter<byte> output, ulong value)
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

    public static void WriteVarintField(IBufferWriter<byte> output, int field, ulong value)
    {
        WriteVarint(output, (ulong)(field << 3 | WireVarint));
        WriteVarint(output, value);
    }

    public static void WriteLengthField(IBufferWriter<byte> output, int field, ReadOnlySpan<byte> payload)
    {
        WriteVarint(output, (ulong)(field << 3 | WireLength));
        WriteVarint(output, (ulong)payload.Length);
        output.Write(payload);
    }

    public static void WriteStringField(IBufferWriter<byte> output, int field, string text) =>
        WriteLengthField(output, field, System.Text.Encoding.UTF8.GetBytes(text));

    public static InvalidDataException Malformed() => new("The ONNX file is not a well-formed protobuf ModelProto.");
}
