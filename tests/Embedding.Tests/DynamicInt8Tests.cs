using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using Embedding.Worker;
using Embedding.Worker.Backends;

namespace Embedding.Tests;

/// <summary>
/// Worker:Onnx:Int8Form DynamicInt8 (and Auto, the default) on the tiny INT8 model (weight-only 8-bit MatMulNBits, the public
/// model_quantized.onnx's form): every node becomes DynamicQuantizeMatMul at load, the weights stay in the configured
/// range, the vectors stay close to the FP32 transformers reference, and each form has its own identity.
/// The cosine floor, 0.99: measured minima are 0.9976 (8-bit weights) and 0.9960 (7-bit) on an Intel Xeon with VNNI.
/// The integer GEMM is exact (int32 sums of the same integers on AVX2, VNNI or AMX kernels, as long as none saturates),
/// so only the fp32 parts of the graph differ between CPUs, in the last digits; the floor leaves room for that and
/// stays far above what int16 saturation gives (0.79 on an AVX2 CPU, docs/models.md). The forms checked for cosine on
/// every CPU (Auto, Reduced) never saturate; forced Full does where the CPU has no VNNI, so its cosine is checked only
/// where ONNX Runtime's kernel sums in int32.
/// </summary>
public sealed class DynamicInt8Tests
{
    private const double Floor = 0.99;
    private static readonly ReferenceData Reference = ReferenceData.Load();
    private static string Int8File => Path.Combine(TestEnvironment.TinyModelInt8, "model.onnx");

    [Theory]
    [InlineData(127)]
    [InlineData(63)]
    public void Rewrite_turns_every_8_bit_MatMulNBits_node_into_int8_weights_of_the_asked_range(int limit)
    {
        var result = DynamicInt8.Rewrite(File.ReadAllBytes(Int8File), limit);

        Assert.Equal(14, result.Rewritten);  // 2 layers x q, k, v, o, gate, up, down
        Assert.Empty(result.LeftAsIs);
        Assert.NotNull(result.Model);
        Assert.Empty(MatMulNBitsAccuracy.Levels(result.Model));  // no MatMulNBits node is left
        var maxima = DynamicInt8.WeightMaxima(result.Model);
        Assert.Equal(14, maxima.Count);
        Assert.All(maxima, m => Assert.Equal(limit, m));  // each column scaled to its largest weight
        // The 8-bit blocks are replaced, not kept beside the int8 copy: [K, N] bytes + N scales is smaller.
        Assert.True(result.Model.Length < new FileInfo(Int8File).Length, $"{result.Model.Length} bytes");
    }

    [Theory]
    [InlineData(DynamicInt8WeightRange.Auto)]
    [InlineData(DynamicInt8WeightRange.Reduced)]
    [InlineData(DynamicInt8WeightRange.Full)]
    public async Task Int8_model_in_the_dynamic_form_stays_close_to_fp32(DynamicInt8WeightRange range)
    {
        using var backend = new OnnxQwen3Backend(TestEnvironment.TinyModelInt8, new OnnxBackendOptions { Int8Form = Int8Form.DynamicInt8, DynamicInt8WeightRange = range });
        using var asFile = new OnnxQwen3Backend(TestEnvironment.TinyModelInt8, new OnnxBackendOptions { Int8Form = Int8Form.MatMulNBits, MatMulNBitsAccuracyLevel = -1 });

        var bits = range switch { DynamicInt8WeightRange.Full => 8, DynamicInt8WeightRange.Reduced => 7, _ => Int8Kernels.SumsInInt32 ? 8 : 7 };
        Assert.Equal(14, backend.DynamicInt8NodesRewritten);
        Assert.Equal(bits, backend.DynamicInt8WeightBits);
        Assert.Equal(0, backend.MatMulNBitsNodesRewritten);  // none left to set a level on
        Assert.Equal(BackendNumerics.WithDynamicInt8(asFile.Numerics, bits), backend.Numerics);

        var inputs = Reference.Embeddings.Select(e => backend.Tokenize(e.Text, truncate: false)).ToList();
        var batched = await backend.EmbedAsync(inputs, CancellationToken.None);
        if (range == DynamicInt8WeightRange.Full && !Int8Kernels.SumsInInt32) return;  // saturates here, by design
        var alone = new List<(double Cosine, string Text)>();
        var inBatch = new List<(double Cosine, string Text)>();
        for (var i = 0; i < inputs.Count; i++)
        {
            var vector = (await backend.EmbedAsync([inputs[i]], CancellationToken.None))[0];
            alone.Add((VectorMath.Cosine(vector, Reference.Embeddings[i].Embedding), Reference.Embeddings[i].Text));
            // One activation scale per tensor: batch mates move a text's vector, within the same tolerance.
            inBatch.Add((VectorMath.Cosine(batched[i], Reference.Embeddings[i].Embedding), Reference.Embeddings[i].Text));
        }
        Assert.True(alone.Min().Cosine >= Floor, $"min cosine to the FP32 transformers vectors {alone.Min()} (mean {alone.Average(c => c.Cosine)})");
        Assert.True(inBatch.Min().Cosine >= Floor, $"in a batch: min cosine {inBatch.Min()} (mean {inBatch.Average(c => c.Cosine)})");
    }

    [Fact]
    public void Auto_takes_the_dynamic_form_only_where_8_bit_weights_are_safe()
    {
        Assert.Equal(Int8Form.DynamicInt8, CpuModelRewrite.FormFor(Int8Form.Auto, sumsInInt32: true));
        Assert.Equal(Int8Form.MatMulNBits, CpuModelRewrite.FormFor(Int8Form.Auto, sumsInInt32: false));
        Assert.Equal(Int8Form.DynamicInt8, CpuModelRewrite.FormFor(Int8Form.DynamicInt8, sumsInInt32: false));  // forced
        Assert.Equal(Int8Form.MatMulNBits, CpuModelRewrite.FormFor(Int8Form.MatMulNBits, sumsInInt32: true));

        // The default, on this CPU, is what the rule says.
        using var backend = new OnnxQwen3Backend(TestEnvironment.TinyModelInt8, new OnnxBackendOptions());
        var dynamic = Int8Kernels.SumsInInt32;
        Assert.Equal(dynamic ? 14 : 0, backend.DynamicInt8NodesRewritten);
        Assert.Equal(dynamic ? 0 : 14, backend.MatMulNBitsNodesRewritten);
        Assert.EndsWith(dynamic ? "+dynamic-u8s8" : "+matmulnbits-accuracy-4", backend.Numerics);
    }

    [Fact]
    public void Each_form_and_weight_range_has_its_own_identity()
    {
        using var full = new OnnxQwen3Backend(TestEnvironment.TinyModelInt8, new OnnxBackendOptions { Int8Form = Int8Form.DynamicInt8, DynamicInt8WeightRange = DynamicInt8WeightRange.Full });
        using var reduced = new OnnxQwen3Backend(TestEnvironment.TinyModelInt8, new OnnxBackendOptions { Int8Form = Int8Form.DynamicInt8, DynamicInt8WeightRange = DynamicInt8WeightRange.Reduced });
        using var nbits = new OnnxQwen3Backend(TestEnvironment.TinyModelInt8, new OnnxBackendOptions { Int8Form = Int8Form.MatMulNBits });
        using var fp32 = new OnnxQwen3Backend(TestEnvironment.TinyModel, new OnnxBackendOptions { Int8Form = Int8Form.DynamicInt8 });

        Assert.Equal(3, new[] { full.Numerics, reduced.Numerics, nbits.Numerics }.Distinct().Count());
        Assert.EndsWith("+dynamic-u8s8", full.Numerics);
        Assert.EndsWith("+dynamic-u8s7", reduced.Numerics);
        Assert.EndsWith("+matmulnbits-accuracy-4", nbits.Numerics);
        // A file without MatMulNBits runs as it is, under its plain identity.
        Assert.Equal(0, fp32.DynamicInt8NodesRewritten);
        Assert.DoesNotContain("+", fp32.Numerics);
    }

    [Fact]
    public void Nodes_of_other_bit_widths_are_left_as_they_are_and_a_malformed_node_is_named()
    {
        var original = File.ReadAllBytes(Int8File);
        // AttributeProto { name: "bits", i: 8 }: name (field 1, 4 bytes), i (field 3, varint). 4-bit nodes are not ours.
        var fourBit = Replace(original, [0x0A, 4, .. "bits"u8, 0x18, 8], [0x0A, 4, .. "bits"u8, 0x18, 4]);
        var left = DynamicInt8.Rewrite(fourBit, 127);
        Assert.Null(left.Model);
        Assert.Equal(0, left.Rewritten);
        Assert.Equal(14, left.LeftAsIs.Count);
        Assert.All(left.LeftAsIs, why => Assert.Contains("bits=4", why));

        // K = 128 said as 64: the weights no longer fit the node's shape, and the error names the node.
        var wrongK = Replace(original, [0x0A, 1, (byte)'K', 0x18, 0x80, 0x01], [0x0A, 1, (byte)'K', 0x18, 0xC0, 0x00]);
        var error = Assert.Throws<InvalidDataException>(() => DynamicInt8.Rewrite(wrongK, 127));
        Assert.Contains("MatMulNBits node 'node_linear", error.Message);

        var truncated = original[..(original.Length / 2)];
        Assert.Throws<InvalidDataException>(() => DynamicInt8.Rewrite(truncated, 127));
    }

    /// <summary>Every occurrence of <paramref name="from"/> replaced by <paramref name="to"/> (same length: no message length changes).</summary>
    private static byte[] Replace(byte[] bytes, byte[] from, byte[] to)
    {
        var copy = (byte[])bytes.Clone();
        var count = 0;
        for (var i = copy.AsSpan().IndexOf(from); i >= 0; i = copy.AsSpan(i + 1).IndexOf(from) is var next and >= 0 ? i + 1 + next : -1)
        {
            to.CopyTo(copy, i);
            count++;
        }
        Assert.True(count > 0, $"pattern {Convert.ToHexString(from)} not found");
        return copy;
    }
}
