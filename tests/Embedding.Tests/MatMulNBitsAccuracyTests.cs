using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using Embedding.Worker;
using Embedding.Worker.Backends;

namespace Embedding.Tests;

/// <summary>
/// Worker:Onnx:MatMulNBitsAccuracyLevel on the tiny INT8 model (weight-only 8-bit MatMulNBits at accuracy level 0, the
/// public model_quantized.onnx's form): the nodes are set to the configured level at load, the vectors stay within
/// INT8 tolerance of the FP32 reference, and the backend's identity says the numerics differ from the file's own.
/// Which kernel a level picks depends on the CPU (ONNX Runtime falls back to a more accurate level where it has no int8
/// kernel), so the tests assert the graph and the tolerance, never a CPU-dependent value.
/// </summary>
public sealed class MatMulNBitsAccuracyTests
{
    private static readonly ReferenceData Reference = ReferenceData.Load();
    private static string Int8File => Path.Combine(TestEnvironment.TinyModelInt8, "model.onnx");

    [Fact]
    public void Rewrite_sets_every_MatMulNBits_node_and_leaves_a_file_already_at_that_level_alone()
    {
        var original = File.ReadAllBytes(Int8File);
        var levels = MatMulNBitsAccuracy.Levels(original);
        Assert.Equal(14, levels.Count);  // 2 layers x q, k, v, o, gate, up, down
        Assert.All(levels, l => Assert.Equal(0, l));

        var rewritten = MatMulNBitsAccuracy.Rewrite(original, 4, out var changed);

        Assert.NotNull(rewritten);
        Assert.Equal(14, changed);
        Assert.All(MatMulNBitsAccuracy.Levels(rewritten), l => Assert.Equal(4, l));
        Assert.Null(MatMulNBitsAccuracy.Rewrite(rewritten, 4, out var again));
        Assert.Equal(0, again);
        // Only the attribute is added (the file leaves it out, = 0): the weights are copied as they are.
        Assert.InRange(rewritten.Length - original.Length, 1, 14 * 32);
        var back = MatMulNBitsAccuracy.Rewrite(rewritten, 0, out _);
        Assert.All(MatMulNBitsAccuracy.Levels(back), l => Assert.Equal(0, l));
        Assert.Equal(rewritten.Length, back!.Length);
    }

    [Fact]
    public void A_file_without_MatMulNBits_is_not_rewritten()
    {
        var fp32 = File.ReadAllBytes(Path.Combine(TestEnvironment.TinyModel, "model.onnx"));

        Assert.Empty(MatMulNBitsAccuracy.Levels(fp32));
        Assert.Null(MatMulNBitsAccuracy.Rewrite(fp32, 4, out _));
        using var backend = new OnnxQwen3Backend(TestEnvironment.TinyModel, new OnnxBackendOptions());
        Assert.Equal(0, backend.MatMulNBitsNodesRewritten);
        Assert.DoesNotContain("matmulnbits", backend.Numerics);
    }

    [Fact]
    public async Task Int8_model_in_the_MatMulNBits_form_runs_at_accuracy_level_4_by_default_within_tolerance_of_fp32()
    {
        using var backend = new OnnxQwen3Backend(TestEnvironment.TinyModelInt8, new OnnxBackendOptions { Int8Form = Int8Form.MatMulNBits });
        using var asFile = new OnnxQwen3Backend(TestEnvironment.TinyModelInt8, new OnnxBackendOptions { Int8Form = Int8Form.MatMulNBits, MatMulNBitsAccuracyLevel = -1 });

        Assert.Equal(14, backend.MatMulNBitsNodesRewritten);
        Assert.Equal(0, asFile.MatMulNBitsNodesRewritten);
        Assert.Equal(BackendNumerics.WithMatMulNBitsAccuracy(asFile.Numerics, 4), backend.Numerics);

        var inputs = Reference.Embeddings.Select(e => backend.Tokenize(e.Text, truncate: false)).ToList();
        var batched = await backend.EmbedAsync(inputs, CancellationToken.None);
        for (var i = 0; i < inputs.Count; i++)
        {
            var alone = (await backend.EmbedAsync([inputs[i]], CancellationToken.None))[0];
            var text = Reference.Embeddings[i].Text;
            var toFp32 = VectorMath.Cosine(alone, Reference.Embeddings[i].Embedding);
            Assert.True(toFp32 >= 0.995, $"'{text}': cosine {toFp32} to the FP32 transformers vector");
            // Activations are quantized per row and block of 32, so batch mates change nothing beyond rounding.
            Assert.True(VectorMath.Cosine(alone, batched[i]) >= 0.999, $"'{text}': cosine {VectorMath.Cosine(alone, batched[i])} alone vs in a batch");
        }
    }
}
