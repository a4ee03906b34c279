using System.Diagnostics;
using System.Text.Json;
using Embedding.Worker;
using Embedding.Worker.Backends;

/// <summary>
/// One ONNX file in one form (Worker:Onnx:Int8Form and DynamicInt8WeightRange; MatMulNBits accuracy level) and thread
/// count, through OnnxQwen3Backend as the worker runs it, on
/// tools/bench-model's reference rows (token ids, so no tokenizer is involved): the fidelity of every row to torch's fp32
/// vector, the latency of one 16-token text (median of the timed calls) and the throughput of a 32 x 128-token batch
/// (best of the timed passes). Interleave the forms in one script so they see the same machine.
/// </summary>
public static class CpuFormBench
{
    public static async Task RunAsync(string modelDirectory, string onnxFile, int accuracyLevel, int threads, string referenceJson,
                                      int singleCalls, int batchPasses, string outJson,
                                      Int8Form form = Int8Form.MatMulNBits, DynamicInt8WeightRange range = DynamicInt8WeightRange.Auto)
    {
        var load = Stopwatch.StartNew();
        using var backend = new OnnxQwen3Backend(modelDirectory, new OnnxBackendOptions
        {
            OnnxFile = onnxFile, IntraOpThreads = threads, MatMulNBitsAccuracyLevel = accuracyLevel,
            Int8Form = form, DynamicInt8WeightRange = range,
            ProfilePrefix = Environment.GetEnvironmentVariable("ONNX_PROFILE"),  // bench/cpu/profile_summary.py reads it
        });
        var loadSeconds = load.Elapsed.TotalSeconds;

        using var doc = JsonDocument.Parse(File.ReadAllBytes(referenceJson));
        var rows = doc.RootElement.GetProperty("embeddings").EnumerateArray().Select(e => (
            Ids: e.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray(),
            Vector: e.GetProperty("embedding").EnumerateArray().Select(v => v.GetDouble()).ToArray())).ToArray();

        var cosines = new List<double>();
        foreach (var (ids, reference) in rows)
        {
            var v = (await backend.EmbedAsync([Text(ids)], CancellationToken.None))[0];
            cosines.Add(v.Select((x, i) => x * reference[i]).Sum());
        }

        var query = rows.First(r => r.Ids.Length == 16).Ids;
        for (var i = 0; i < 2; i++) await backend.EmbedAsync([Text(query)], CancellationToken.None);
        var single = new List<double>();
        for (var i = 0; i < singleCalls; i++)
        {
            var clock = Stopwatch.StartNew();
            await backend.EmbedAsync([Text(query)], CancellationToken.None);
            single.Add(clock.Elapsed.TotalMilliseconds);
        }
        single.Sort();

        // 32 texts of 128 tokens: the reference's 128-token row, each copy with its own first tokens so rows differ.
        var passage = rows.First(r => r.Ids.Length == 128).Ids;
        var vocab = rows.SelectMany(r => r.Ids[..^1]).Max() + 1;
        var batch = Enumerable.Range(0, 32).Select(k => Text([.. passage.Take(127).Select((t, i) => i < 4 ? (t + 7919 * (k + i)) % vocab : t), passage[^1]])).ToArray();
        await backend.EmbedAsync(batch[..2], CancellationToken.None);
        var best = double.MaxValue;
        for (var pass = 0; pass < batchPasses; pass++)
        {
            var clock = Stopwatch.StartNew();
            await backend.EmbedAsync(batch, CancellationToken.None);
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }

        var result = new
        {
            onnx_file = onnxFile, accuracy_level = accuracyLevel, nodes_rewritten = backend.MatMulNBitsNodesRewritten, threads,
            int8_form = form.ToString(), weight_range = range.ToString(), dynamic_nodes = backend.DynamicInt8NodesRewritten,
            dynamic_weight_bits = backend.DynamicInt8WeightBits, u8s8_sums_in_int32 = Int8Kernels.SumsInInt32, numerics = backend.Numerics,
            onnxruntime = typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version?.ToString(),
            load_s = loadSeconds,
            min_cosine = cosines.Min(), mean_cosine = cosines.Average(), rows = cosines.Count,
            single_16_tokens_ms_p50 = single[single.Count / 2], single_16_tokens_ms_min = single[0], single_calls = single.Count,
            batch_32x128_s = best, batch_32x128_tokens_per_s = 32 * 128 / best, batch_passes = batchPasses,
        };
        Console.WriteLine($"{onnxFile} {backend.Numerics} ({backend.DynamicInt8NodesRewritten} dynamic, {backend.MatMulNBitsNodesRewritten} level set), {threads} threads: min cosine {result.min_cosine:F5}, " +
                          $"one 16-token text {result.single_16_tokens_ms_p50:F1} ms (p50 of {single.Count}), 32 x 128 tokens {best:F2} s ({result.batch_32x128_tokens_per_s:F0} tokens/s)");
        await File.WriteAllTextAsync(outJson, JsonSerializer.Serialize(result, new JsonSerializerOptions
        {
            WriteIndented = true, TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver(),
        }));
    }

    private static TokenizedText Text(int[] ids) => new("", ids, ids.Length);
}
