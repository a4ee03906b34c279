using System.Diagnostics;
using System.Text.Json;
using Embedding.Worker;
using Embedding.Worker.Backends;

/// <summary>
/// The worker's ONNX path (tokenize, run, pool: OnnxQwen3Backend as the worker calls it) on the texts bench/cpu/peer_bench.py
/// prepared, batch by batch, for the comparison with a FastEmbed-style Python pipeline on the same model file. Tokens/s
/// counts real tokens (end-of-text included) over the best of the timed passes, after one warm-up batch.
/// </summary>
public static class PeerBench
{
    public static async Task RunAsync(string modelDirectory, string onnxFile, string textsJson, int threads, string outJson)
    {
        var load = Stopwatch.StartNew();
        using var backend = new OnnxQwen3Backend(modelDirectory, new OnnxBackendOptions { OnnxFile = onnxFile, IntraOpThreads = threads });
        var loadSeconds = load.Elapsed.TotalSeconds;
        using var doc = JsonDocument.Parse(File.ReadAllBytes(textsJson));
        var root = doc.RootElement;
        var batchSizes = root.GetProperty("batch_sizes").EnumerateArray().Select(b => b.GetInt32()).ToArray();
        var passes = root.GetProperty("passes").GetInt32();
        var results = new List<object>();
        foreach (var group in root.GetProperty("groups").EnumerateArray())
        {
            var tokens = group.GetProperty("tokens").GetInt32();
            var texts = group.GetProperty("texts").EnumerateArray().Select(t => t.GetString()!).ToArray();
            foreach (var batchSize in batchSizes)
            {
                var batches = texts.Take(Math.Max(batchSize, root.GetProperty("min_texts_per_pass").GetInt32())).Chunk(batchSize).ToArray();
                await EmbedAsync(backend, batches[0]);  // warm-up: first run of this shape
                var best = double.MaxValue;
                long counted = 0;
                for (var pass = 0; pass < passes; pass++)
                {
                    var clock = Stopwatch.StartNew();
                    counted = 0;
                    foreach (var batch in batches) counted += await EmbedAsync(backend, batch);
                    best = Math.Min(best, clock.Elapsed.TotalSeconds);
                }
                results.Add(new { tokens, batch_size = batchSize, texts = batches.Sum(b => b.Length), real_tokens = counted, best_s = best, tokens_per_s = counted / best });
                Console.WriteLine($"dotnet {onnxFile} {tokens} tokens x batch {batchSize}: {counted / best:F0} tokens/s");
            }
        }
        await File.WriteAllTextAsync(outJson, JsonSerializer.Serialize(new
        {
            pipeline = "dotnet (OnnxQwen3Backend: Microsoft.ML.Tokenizers + Microsoft.ML.OnnxRuntime)",
            onnxruntime = typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version?.ToString(),
            onnx_file = onnxFile, threads, load_s = loadSeconds, results,
        }, new JsonSerializerOptions { WriteIndented = true, TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver() }));
    }

    private static async Task<long> EmbedAsync(OnnxQwen3Backend backend, string[] texts)
    {
        var tokenized = texts.Select(t => backend.Tokenize(t, truncate: false)).ToList();
        var vectors = await backend.EmbedAsync(tokenized, CancellationToken.None);
        if (vectors.Length != texts.Length) throw new InvalidOperationException("vectors missing");
        return tokenized.Sum(t => (long)t.TokenCount);
    }
}
