using System.Diagnostics;
using System.Text.Json;
using Embedding.Worker;
using Embedding.Worker.Backends;

/// <summary>
/// The reranker backend called directly (no API, cache or queue): one query against 100 passages of 200 tokens, cut
/// into batches as the worker's batcher cuts them (8,192 padded tokens; the pairs are of one length), then sorted: the
/// time to the ranked list and the pairs/s it makes. Where the model directory holds the exporter's
/// reference-export.json, its pairs are scored first and compared (the graph against the exporter's float32 forward).
/// </summary>
public static class RerankBench
{
    public static async Task RunAsync(string modelDirectory, string onnxFile, int threads, int runs, string output, OnnxDevice device = OnnxDevice.Cpu)
    {
        var started = Stopwatch.GetTimestamp();
        using var reranker = new OnnxQwen3Reranker(modelDirectory, new OnnxBackendOptions { IntraOpThreads = threads, OnnxFile = onnxFile, Device = device });
        var loadSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var result = new Dictionary<string, object?>
        {
            ["date"] = DateTime.UtcNow.ToString("u"), ["model"] = modelDirectory, ["file"] = reranker.ModelFile, ["threads"] = threads, ["device"] = device.ToString(),
            ["cores"] = Environment.ProcessorCount, ["load_seconds"] = Math.Round(loadSeconds, 2),
            ["load_average"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : null,
        };

        var referencePath = Path.Combine(modelDirectory, "reference-export.json");
        if (File.Exists(referencePath))
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(referencePath));
            var pairs = doc.RootElement.GetProperty("pairs").EnumerateArray().ToList();
            var batch = pairs.Select(p => p.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray())
                             .Select(ids => new TokenizedText("", ids, ids.Length)).ToList();
            var scores = await reranker.ScoreAsync(batch, CancellationToken.None);
            result["reference_max_abs_dp"] = pairs.Select((p, i) => Math.Abs(scores[i] - p.GetProperty("score").GetDouble())).Max();
            result["form"] = reranker.Form?.ToString();
            Console.WriteLine($"reference pairs: max |dP| {result["reference_max_abs_dp"]:E2} ({reranker.Form})");
        }

        // 100 passages of 200 tokens each.
        const string query = RerankPassages.Query;
        var documents = RerankPassages.Make(reranker, 100, 200);
        var passages = documents.Select(d => reranker.Tokenize(null, query, d)).ToList();
        var pairTokens = passages[0].TokenCount;
        var perBatch = Math.Max(1, new WorkerOptions().MaxBatchTokens / pairTokens);
        result["pair_tokens"] = pairTokens;
        result["pairs_per_batch"] = perBatch;
        Console.WriteLine($"100 pairs of {pairTokens} tokens (200 of document), {perBatch} per batch, {threads} threads");

        await reranker.ScoreAsync(passages.Take(2).ToList(), CancellationToken.None);  // warm-up: the session's first run
        var times = new List<double>();
        for (var run = 0; run < runs; run++)
        {
            var t0 = Stopwatch.GetTimestamp();
            var pairs = documents.Select(d => reranker.Tokenize(null, query, d)).ToList();  // tokenising is part of the request
            var scores = new List<float>();
            for (var i = 0; i < pairs.Count; i += perBatch)
                scores.AddRange(await reranker.ScoreAsync(pairs.Skip(i).Take(perBatch).ToList(), CancellationToken.None));
            var ranked = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ToArray();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            Console.WriteLine($"run {run}: ranked list in {times[^1]:F0} ms ({100 / times[^1] * 1000:F1} pairs/s); top {ranked[0]}");
        }
        times.Sort();
        result["ranked_list_ms"] = times;
        result["ranked_list_p50_ms"] = Math.Round(times[times.Count / 2], 1);
        result["pairs_per_second"] = Math.Round(100 / times[times.Count / 2] * 1000, 2);
        result["tokens_per_second"] = Math.Round(100.0 * pairTokens / times[times.Count / 2] * 1000, 1);
        await File.WriteAllTextAsync(output, JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine(JsonSerializer.Serialize(result));
    }
}
