using System.Buffers;
using static Embedding.Worker.Backends.OnnxWire;

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
        // Walking the nodes copies nothing; the rewrite copies the whole file (weights included), so only when it must.
        if (!Levels(model).Any(l => l != level)) return null;
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
                foreach (var f in Fields(attribute))
                    if (f.Number == 3) return (long)f.Value;
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
        WriteVarintField(attribute, 3, (ulong)level);
        WriteVarintField(attribute, 20, 2);  // AttributeType.INT
        WriteLengthField(output, 5, attribute.WrittenSpan);
        return output.WrittenSpan.ToArray();
    }
}
