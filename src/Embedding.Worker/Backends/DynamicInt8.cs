using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using static Embedding.Worker.Backends.OnnxWire;

namespace Embedding.Worker.Backends;

/// <summary>
/// Rewrites a weight-only 8-bit ONNX file (com.microsoft <c>MatMulNBits</c>, bits 8: the public
/// <c>model_quantized.onnx</c>) into ONNX Runtime's dynamic int8 form: each node becomes com.microsoft
/// <c>DynamicQuantizeMatMul(A, B int8 [K, N], b_scale [N], , bias?)</c>, which quantizes its activations to uint8 per
/// call (one scale per tensor) and runs the u8s8 integer GEMM on weights packed once at load. The weights are each
/// block dequantized ((q - zero point) x scale; zero point 128 where the file has none, as ONNX Runtime's schema says)
/// and quantized again, symmetric, one scale per output column, to [-<c>limit</c>, <c>limit</c>]: 127, or 63 where the
/// CPU's u8s8 kernel sums pairs of products in int16 and would saturate (<see cref="Int8Kernels"/>).
/// Nodes of other bit widths, with g_idx, fp16 scales, or weights not stored in the file are left as they are (named in
/// <see cref="Result.LeftAsIs"/>); a node whose tensors disagree with its K, N and block_size is an error.
/// </summary>
public static class DynamicInt8
{
    private const int TensorFloat = 1, TensorUint8 = 2, TensorInt8 = 3;

    /// <summary>The rewritten model (null when no node was rewritten), the nodes rewritten, and why others were not.</summary>
    public sealed record Result(byte[]? Model, int Rewritten, IReadOnlyList<string> LeftAsIs);

    private sealed record Node(int Index, string Name, string[] Inputs, string[] Outputs, Dictionary<string, long> Attributes, bool IsNBits);

    private sealed record Plan(Node Node, sbyte[] Weights, float[] Scales, long K, long N);

    public static Result Rewrite(byte[] model, int limit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, 127);
        ReadOnlySpan<byte> graph = default;
        foreach (var f in Fields(model)) if (f.Number == 7) graph = f.Payload;
        var initializers = new Dictionary<string, (int Start, int Length)>(StringComparer.Ordinal);
        var nodes = new List<Node>();
        var graphOutputs = new HashSet<string>(StringComparer.Ordinal);
        foreach (var f in Fields(graph))
        {
            if (f.Number == 5) initializers[StringField(f.Payload, 8)] = (OffsetOf(graph, f.Payload), f.Payload.Length);
            else if (f.Number == 1) nodes.Add(ReadNode(nodes.Count, f.Payload));
            else if (f.Number == 12) graphOutputs.Add(StringField(f.Payload, 1));
        }

        var left = new List<string>();
        var plans = new Dictionary<int, Plan>();
        foreach (var node in nodes.Where(n => n.IsNBits))
        {
            var why = Convert(node, initializers, graph, limit, out var plan);
            if (plan is not null) plans[node.Index] = plan;
            else left.Add($"{node.Name}: {why}");
        }
        if (plans.Count == 0) return new Result(null, 0, left);

        // The replaced weights go, unless another node or the graph's outputs use them too.
        var used = new HashSet<string>(graphOutputs, StringComparer.Ordinal);
        foreach (var node in nodes.Where(n => !plans.ContainsKey(n.Index))) used.UnionWith(node.Inputs);
        var removed = plans.Values.SelectMany(p => p.Node.Inputs.Skip(1).Take(3)).Where(n => n.Length > 0 && !used.Contains(n)).ToHashSet();

        var newGraph = new ArrayBufferWriter<byte>(graph.Length);
        var index = 0;
        foreach (var f in Fields(graph))
        {
            if (f.Number == 1 && plans.TryGetValue(index++, out var plan)) WriteLengthField(newGraph, 1, NodeBytes(plan));
            else if (f.Number is 5 or 11 && removed.Contains(StringField(f.Payload, f.Number == 5 ? 8 : 1))) continue;
            else newGraph.Write(f.Raw);
        }
        foreach (var plan in plans.Values)
        {
            WriteLengthField(newGraph, 5, TensorBytes(WeightName(plan), TensorInt8, [plan.K, plan.N], MemoryMarshal.AsBytes(plan.Weights.AsSpan())));
            WriteLengthField(newGraph, 5, TensorBytes(ScaleName(plan), TensorFloat, [plan.N], MemoryMarshal.AsBytes(plan.Scales.AsSpan())));
        }

        var output = new ArrayBufferWriter<byte>(newGraph.WrittenCount + 4096);
        foreach (var f in Fields(model))
            if (f.Number == 7) WriteLengthField(output, 7, newGraph.WrittenSpan);
            else output.Write(f.Raw);
        return new Result(output.WrittenSpan.ToArray(), plans.Count, left);
    }

    /// <summary>The largest |weight| of each int8 weight this rewrite wrote into <paramref name="model"/>, without rewriting.</summary>
    public static IReadOnlyList<int> WeightMaxima(byte[] model)
    {
        var maxima = new List<int>();
        foreach (var f in Fields(model))
            if (f.Number == 7)
                foreach (var g in Fields(f.Payload))
                    if (g.Number == 5 && StringField(g.Payload, 8).EndsWith("/DynamicInt8/B", StringComparison.Ordinal))
                        maxima.Add(MemoryMarshal.Cast<byte, sbyte>(TensorData(g.Payload, TensorInt8, out _)).ToArray().Max(w => Math.Abs((int)w)));
        return maxima;
    }

    /// <summary>The node's weights in the dynamic form, or why it stays as it is.</summary>
    private static string? Convert(Node node, Dictionary<string, (int Start, int Length)> initializers, ReadOnlySpan<byte> graph, int limit, out Plan? plan)
    {
        plan = null;
        var a = node.Attributes;
        if (a.GetValueOrDefault("bits", 4) != 8) return $"bits={a.GetValueOrDefault("bits", 4)}, not 8";
        if (!a.TryGetValue("K", out var k) || !a.TryGetValue("N", out var n) || !a.TryGetValue("block_size", out var blockSize))
            throw Bad(node, "has no K, N or block_size attribute");
        if (k <= 0 || n <= 0 || blockSize < 16 || (blockSize & (blockSize - 1)) != 0 || k * n > Array.MaxLength)
            throw Bad(node, $"has K={k}, N={n}, block_size={blockSize}");
        if (node.Outputs.Length != 1 || node.Inputs.Length < 3) throw Bad(node, $"has {node.Inputs.Length} inputs and {node.Outputs.Length} outputs");
        if (node.Inputs.Length > 4 && node.Inputs[4].Length > 0) return "has g_idx";
        string Input(int i) => node.Inputs.Length > i ? node.Inputs[i] : "";
        if (!initializers.TryGetValue(Input(1), out var b) || !initializers.TryGetValue(Input(2), out var s)) return "weights or scales are not initializers";
        var hasZeroPoints = Input(3).Length > 0;
        if (hasZeroPoints && !initializers.ContainsKey(Input(3))) return "zero points are not an initializer";

        var blocks = (k + blockSize - 1) / blockSize;
        var quantized = TensorData(graph.Slice(b.Start, b.Length), TensorUint8, out var why);
        if (quantized is null) return $"B {why}";
        var scaleBytes = TensorData(graph.Slice(s.Start, s.Length), TensorFloat, out why);
        if (scaleBytes is null) return $"scales {why}";
        byte[]? zeroPoints = null;
        if (hasZeroPoints)
        {
            var z = initializers[Input(3)];
            zeroPoints = TensorData(graph.Slice(z.Start, z.Length), TensorUint8, out why);
            if (zeroPoints is null) return $"zero points {why}";
        }
        if (quantized.Length != n * blocks * blockSize) throw Bad(node, $"B has {quantized.Length} bytes; N x blocks x block_size = {n * blocks * blockSize}");
        if (scaleBytes.Length != n * blocks * 4) throw Bad(node, $"has {scaleBytes.Length / 4} scales; N x blocks = {n * blocks}");
        if (zeroPoints is not null && zeroPoints.Length != n * blocks) throw Bad(node, $"has {zeroPoints.Length} zero points; N x blocks = {n * blocks}");

        var scales = MemoryMarshal.Cast<byte, float>(scaleBytes).ToArray();
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw data is little-endian.");
        var weights = new sbyte[k * n];
        var columnScales = new float[n];
        int K = (int)k, N = (int)n, Blocks = (int)blocks, Block = (int)blockSize;
        Parallel.For(0, N, () => new float[K], (column, _, w) =>
        {
            var max = 0f;
            for (var i = 0; i < K; i++)
            {
                var block = column * Blocks + i / Block;
                var zero = zeroPoints is null ? 128 : zeroPoints[block];
                w[i] = (quantized[(long)column * Blocks * Block + i] - zero) * scales[block];
                max = Math.Max(max, Math.Abs(w[i]));
            }
            var scale = max > 0 ? max / limit : 1f;
            columnScales[column] = scale;
            for (var i = 0; i < K; i++)
                weights[(long)i * N + column] = (sbyte)Math.Clamp(MathF.Round(w[i] / scale, MidpointRounding.ToEven), -limit, limit);
            return w;
        }, _ => { });
        plan = new Plan(node, weights, columnScales, k, n);
        return null;
    }

    /// <summary>A tensor's bytes in the file (raw_data, or float_data / int32_data), or null and why not.</summary>
    private static byte[]? TensorData(ReadOnlySpan<byte> tensor, int expectedType, out string why)
    {
        long type = 0;
        byte[]? raw = null;
        var typed = new List<long>();
        var floats = new ArrayBufferWriter<byte>();
        foreach (var f in Fields(tensor))
        {
            if (f.Number == 2) type = (long)f.Value;
            else if (f.Number == 9) raw = f.Payload.ToArray();
            else if (f.Number == 14 && f.Value == 1) { why = "are stored outside the file (external data)"; return null; }
            else if (f.Number == 4) floats.Write(f.WireType == WireFixed32 ? f.Raw[^4..] : f.Payload);
            else if (f.Number == 5) AddInt64s(f, typed);
        }
        why = $"are of ONNX element type {type}, not {expectedType}";
        if (type != expectedType) return null;
        why = "";
        if (raw is not null) return raw;
        return expectedType == TensorFloat ? floats.WrittenSpan.ToArray() : typed.Select(v => (byte)v).ToArray();
    }

    private static Node ReadNode(int index, ReadOnlySpan<byte> node)
    {
        List<string> inputs = [], outputs = [];
        string name = "", op = "", domain = "";
        var attributes = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var f in Fields(node))
        {
            switch (f.Number)
            {
                case 1: inputs.Add(Encoding.UTF8.GetString(f.Payload)); break;
                case 2: outputs.Add(Encoding.UTF8.GetString(f.Payload)); break;
                case 3: name = Encoding.UTF8.GetString(f.Payload); break;
                case 4: op = Encoding.UTF8.GetString(f.Payload); break;
                case 7: domain = Encoding.UTF8.GetString(f.Payload); break;
                case 5:
                    string? key = null;
                    long? value = null;
                    foreach (var af in Fields(f.Payload))
                        if (af.Number == 1) key = Encoding.UTF8.GetString(af.Payload);
                        else if (af.Number == 3) value = (long)af.Value;
                    if (key is not null && value is { } v) attributes[key] = v;
                    break;
            }
        }
        var isNBits = op == "MatMulNBits" && domain == "com.microsoft";
        return new Node(index, name.Length > 0 ? name : outputs.FirstOrDefault() ?? $"node {index}", [.. inputs], [.. outputs], attributes, isNBits);
    }

    private static byte[] NodeBytes(Plan plan)
    {
        var node = plan.Node;
        var bias = node.Inputs.Length > 5 ? node.Inputs[5] : "";
        string[] inputs = bias.Length > 0 ? [node.Inputs[0], WeightName(plan), ScaleName(plan), "", bias] : [node.Inputs[0], WeightName(plan), ScaleName(plan)];
        var output = new ArrayBufferWriter<byte>(256);
        foreach (var input in inputs) WriteStringField(output, 1, input);
        foreach (var o in node.Outputs) WriteStringField(output, 2, o);
        WriteStringField(output, 3, node.Name);
        WriteStringField(output, 4, "DynamicQuantizeMatMul");
        WriteStringField(output, 7, "com.microsoft");
        return output.WrittenSpan.ToArray();
    }

    private static byte[] TensorBytes(string name, int type, long[] dims, ReadOnlySpan<byte> data)
    {
        var output = new ArrayBufferWriter<byte>(data.Length + 128);
        foreach (var d in dims) WriteVarintField(output, 1, (ulong)d);
        WriteVarintField(output, 2, (ulong)type);
        WriteStringField(output, 8, name);
        WriteLengthField(output, 9, data);
        return output.WrittenSpan.ToArray();
    }

    private static string WeightName(Plan plan) => $"{plan.Node.Outputs[0]}/DynamicInt8/B";
    private static string ScaleName(Plan plan) => $"{plan.Node.Outputs[0]}/DynamicInt8/b_scale";

    private static string StringField(ReadOnlySpan<byte> message, int number)
    {
        foreach (var f in Fields(message)) if (f.Number == number) return Encoding.UTF8.GetString(f.Payload);
        return "";
    }

    private static int OffsetOf(ReadOnlySpan<byte> outer, ReadOnlySpan<byte> inner) =>
        (int)Unsafe.ByteOffset(ref MemoryMarshal.GetReference(outer), ref MemoryMarshal.GetReference(inner));

    private static InvalidDataException Bad(Node node, string what) =>
        new($"MatMulNBits node '{node.Name}' {what}: so the file is malformed: export it again.");
}
