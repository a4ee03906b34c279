using System.Text.Json;
using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using Embedding.Worker;
using Embedding.Worker.Backends;
using Embedding.Worker.Model;

namespace Embedding.Tests;

/// <summary>
/// The C# tokenizer and ONNX backend against an independent implementation: Hugging Face tokenizers
/// and transformers, run by tools/tiny-model/make_tiny_qwen3.py on a tokenizer built exactly like Qwen3's.
/// </summary>
public sealed class ModelTests
{
    private static readonly ReferenceData Reference = ReferenceData.Load();

    public static TheoryData<int> TokenizerCaseIndexes() => new(Enumerable.Range(0, Reference.TokenizerCases.Count));

    [Theory]
    [MemberData(nameof(TokenizerCaseIndexes))]
    public void Tokenizer_matches_hugging_face_ids(int index)
    {
        var (text, expected) = Reference.TokenizerCases[index];
        var tokenizer = new Qwen3Tokenizer(TestEnvironment.TinyModel);

        Assert.Equal(expected, tokenizer.Encode(text));
    }

    public static TheoryData<int> SplitCaseIndexes() => new(Enumerable.Range(0, Reference.SplitCases.Count));

    /// <summary>The split itself, over code points: ids alone cannot show it with a vocabulary this small.</summary>
    [Theory]
    [MemberData(nameof(SplitCaseIndexes))]
    public void Pre_tokenizer_splits_like_hugging_face(int index)
    {
        var (text, expected) = Reference.SplitCases[index];
        var nfc = text.Normalize(System.Text.NormalizationForm.FormC);

        var pieces = new Qwen3PreTokenizer().PreTokenize(nfc).Select(p => nfc.Substring(p.Offset, p.Length));

        Assert.Equal(expected, pieces);
    }

    [Fact]
    public async Task ProfilePrefix_writes_ONNX_Runtimes_operator_profile_there_when_the_session_ends()
    {
        var directory = Directory.CreateTempSubdirectory("onnx-profile-");
        try
        {
            using (var backend = new OnnxQwen3Backend(TestEnvironment.TinyModel, new OnnxBackendOptions { ProfilePrefix = Path.Combine(directory.FullName, "tiny") }))
                await backend.EmbedAsync([backend.Tokenize("profiled", truncate: false)], CancellationToken.None);

            var profile = Assert.Single(directory.GetFiles("tiny_*.json"));
            using var events = JsonDocument.Parse(File.ReadAllBytes(profile.FullName));
            var names = events.RootElement.EnumerateArray().Select(e => e.GetProperty("name").GetString()).ToList();
            Assert.Contains("model_run", names);
            Assert.Contains(names, n => n!.EndsWith("_kernel_time", StringComparison.Ordinal));  // one per operator call
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void Tokenizer_truncation_keeps_the_end_of_text_token()
    {
        var tokenizer = new Qwen3Tokenizer(TestEnvironment.TinyModel);
        var ids = tokenizer.Encode(string.Join(' ', Enumerable.Repeat("embedding", 50)));

        var cut = tokenizer.Truncate(ids, 10);

        Assert.Equal(10, cut.Length);
        Assert.Equal(ids[..9], cut[..9]);
        Assert.Equal(tokenizer.EndOfTextId, cut[^1]);
    }

    [Fact]
    public async Task Onnx_backend_matches_transformers_in_one_padded_batch()
    {
        using var backend = new OnnxQwen3Backend(TestEnvironment.TinyModel, new OnnxBackendOptions());
        var inputs = Reference.Embeddings.Select(e => backend.Tokenize(e.Text, truncate: false)).ToList();

        var vectors = await backend.EmbedAsync(inputs, CancellationToken.None);

        Assert.Equal(Reference.HiddenSize, backend.Dimensions);
        for (var i = 0; i < inputs.Count; i++)
        {
            Assert.Equal(Reference.Embeddings[i].Ids, inputs[i].TokenIds);
            var cosine = VectorMath.Cosine(vectors[i], Reference.Embeddings[i].Embedding);
            Assert.True(cosine >= 0.9999, $"'{Reference.Embeddings[i].Text}': cosine {cosine} to the transformers vector");
            Assert.Equal(1.0, Math.Sqrt(vectors[i].Sum(x => (double)x * x)), 5);  // L2-normalised
        }
    }

    [Fact]
    public async Task Int8_model_matches_onnxruntime_python_and_stays_close_to_fp32()
    {
        // The file as it is (accuracy level 0, as onnxruntime Python ran it for the reference); level 4: MatMulNBitsAccuracyTests.
        using var backend = new OnnxQwen3Backend(TestEnvironment.TinyModelInt8, new OnnxBackendOptions { Int8Form = Int8Form.MatMulNBits, MatMulNBitsAccuracyLevel = -1 });
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestEnvironment.TinyModelInt8, "reference-int8.json")));
        var int8Reference = doc.RootElement.GetProperty("embeddings").EnumerateArray()
            .Select(e => e.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToList();
        var inputs = Reference.Embeddings.Select(e => backend.Tokenize(e.Text, truncate: false)).ToList();

        var batched = await backend.EmbedAsync(inputs, CancellationToken.None);

        for (var i = 0; i < inputs.Count; i++)
        {
            // Weight-only 8-bit (MatMulNBits, fp32 arithmetic): no activation is quantized, so the vector depends neither on
            // the CPU's integer kernels (AVX2, VNNI, AMX) nor on batch mates: tolerances hold on any x86-64 CPU.
            var alone = (await backend.EmbedAsync([inputs[i]], CancellationToken.None))[0];
            var text = Reference.Embeddings[i].Text;
            Assert.True(VectorMath.Cosine(alone, int8Reference[i]) >= 0.9999, $"'{text}': cosine {VectorMath.Cosine(alone, int8Reference[i])} to onnxruntime Python's INT8 vector");
            Assert.True(VectorMath.Cosine(alone, batched[i]) >= 0.9999, $"'{text}': cosine {VectorMath.Cosine(alone, batched[i])} alone vs in a batch");
            var toFp32 = VectorMath.Cosine(alone, Reference.Embeddings[i].Embedding);
            Assert.True(toFp32 >= 0.995, $"'{text}': cosine {toFp32} to the FP32 transformers vector");
        }
    }

    [Fact]
    public async Task Onnx_backend_gives_the_same_vector_alone_and_in_a_batch()
    {
        using var backend = new OnnxQwen3Backend(TestEnvironment.TinyModel, new OnnxBackendOptions());
        var shortText = backend.Tokenize("hello world", false);
        var longText = backend.Tokenize(Reference.Embeddings[^1].Text, false);

        var alone = (await backend.EmbedAsync([shortText], CancellationToken.None))[0];
        var padded = (await backend.EmbedAsync([longText, shortText], CancellationToken.None))[1];

        Assert.True(VectorMath.Cosine(alone, padded) > 0.99999);
    }

    [Fact]
    public void Onnx_backend_reads_its_limits_from_the_model_config()
    {
        using var backend = new OnnxQwen3Backend(TestEnvironment.TinyModel, new OnnxBackendOptions());
        Assert.Equal(512, backend.MaxInputTokens);
        Assert.True(backend.PadsBatches);
        var tooLong = backend.Tokenize(string.Join(' ', Enumerable.Repeat("vector", 600)), truncate: false);
        Assert.True(tooLong.TokenCount > 512);
        Assert.Equal(512, backend.Tokenize(string.Join(' ', Enumerable.Repeat("vector", 600)), truncate: true).TokenCount);
    }

    [Fact]
    public void Matryoshka_truncation_renormalises_the_prefix()
    {
        var full = new float[] { 3, 4, 12, 0 };
        VectorMath.Normalize(full);

        var two = VectorMath.Truncate(full, 2);

        Assert.Equal(0.6f, two[0], 1e-6f);
        Assert.Equal(0.8f, two[1], 1e-6f);
        Assert.Throws<ArgumentOutOfRangeException>(() => VectorMath.Truncate(full, 5));
    }
}
