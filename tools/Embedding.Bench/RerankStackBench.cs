using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Embedding.Worker;
using Embedding.Worker.Backends;

/// <summary>
/// Reranking through the whole stack (POST /v1/rerank: API, pair cache, RabbitMQ, a reranker worker, its ONNX model)
/// against the same model called directly in this process (<see cref="OnnxQwen3Reranker"/>, pairs cut into the worker's
/// batches, one Run at a time as one worker runs them), side by side in one run; one query against PASSAGES documents of
/// TOKENS tokens (<see cref="RerankPassages"/>).
/// <list type="bullet">
/// <item>latency: per run a fresh query (so the stack's pair cache misses), direct then stack on the same query; then
/// that query once more through the stack, answered from the cache;</item>
/// <item>saturation: CLIENTS concurrent clients, each request a fresh query over the same documents, new requests for
/// SECONDS: pairs answered / time to the last answer.</item>
/// </list>
/// Writes a JSON file and a markdown table; the scripts (bench/rerank-stack.sh, bench/gpu/rerank_stack.sh) add the machine.
/// </summary>
public static class RerankStackBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        var a = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i + 1 < args.Length; i += 2) a[args[i].TrimStart('-')] = args[i + 1];
        string Arg(string key, string fallback) => a.TryGetValue(key, out var v) ? v : fallback;
        int Int(string key, int fallback) => int.Parse(Arg(key, fallback.ToString()));

        var api = new Uri(Arg("api", "http://127.0.0.1:5080"));
        var model = Arg("model", "qwen3-reranker-0.6b");
        var device = Enum.Parse<OnnxDevice>(Arg("device", "Cpu"), ignoreCase: true);
        int runs = Int("runs", 3), passages = Int("passages", 100), tokens = Int("tokens", 200), clients = Int("clients", 4);
        var seconds = double.Parse(Arg("seconds", "30"));
        int batchTokens = Int("max-batch-tokens", new WorkerOptions().MaxBatchTokens), batchSize = Int("max-batch-size", new WorkerOptions().MaxBatchSize);
        var warmupPairs = Int("warmup", 2);
        var nonce = Guid.NewGuid().ToString("N")[..6];  // queries of this invocation are new to the cache, whatever ran before

        var started = Stopwatch.GetTimestamp();
        using var reranker = new OnnxQwen3Reranker(Arg("model-dir", ""), new OnnxBackendOptions
            { Device = device, IntraOpThreads = Int("threads", 0), OnnxFile = Arg("onnx-file", "") is { Length: > 0 } f ? f : null });
        var loadSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        // The graph against the exporter's float32 forward, where the export left its reference pairs.
        double? referenceDiff = null;
        var referencePath = Path.Combine(Arg("model-dir", ""), "reference-export.json");
        if (File.Exists(referencePath))
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(referencePath));
            var pairs = doc.RootElement.GetProperty("pairs").EnumerateArray().ToList();
            var ids = pairs.Select(p => p.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray()).ToList();
            var scores = await reranker.ScoreAsync(ids.Select(x => new TokenizedText("", x, x.Length)).ToList(), CancellationToken.None);
            referenceDiff = pairs.Select((p, i) => Math.Abs(scores[i] - p.GetProperty("score").GetDouble())).Max();
        }
        var documents = RerankPassages.Make(reranker, passages, tokens);
        using var http = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromHours(1) };
        var gate = new SemaphoreSlim(1);  // direct: one Run at a time, as one worker's MaxConcurrentBatches = 1

        async Task<float[]> DirectAsync(string query, IReadOnlyList<string> docs)
        {
            var pairs = docs.Select(d => reranker.Tokenize(null, query, d)).ToList();  // tokenising is part of the request
            var perBatch = Math.Clamp(batchTokens / pairs.Max(p => p.TokenCount), 1, batchSize);
            var scores = new List<float>(pairs.Count);
            for (var i = 0; i < pairs.Count; i += perBatch)
            {
                await gate.WaitAsync();
                try { scores.AddRange(await reranker.ScoreAsync(pairs.Skip(i).Take(perBatch).ToList(), CancellationToken.None)); }
                finally { gate.Release(); }
            }
            _ = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ToArray();  // the ranked list
            return [.. scores];
        }

        async Task<float[]> StackAsync(string query, IReadOnlyList<string> docs)
        {
            using var response = await http.PostAsJsonAsync("/v1/rerank", new { model, query, documents = docs });
            var body = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode) throw new HttpRequestException($"{(int)response.StatusCode}: {body}");
            var scores = new float[docs.Count];
            var results = JsonDocument.Parse(body).RootElement.GetProperty("results");
            if (results.GetArrayLength() != docs.Count) throw new InvalidOperationException($"{results.GetArrayLength()} results for {docs.Count} documents");
            foreach (var r in results.EnumerateArray()) scores[r.GetProperty("index").GetInt32()] = r.GetProperty("relevance_score").GetSingle();
            return scores;
        }

        static async Task<(double Ms, T Value)> TimeAsync<T>(Func<Task<T>> f)
        {
            var t0 = Stopwatch.GetTimestamp();
            var value = await f();
            return (Stopwatch.GetElapsedTime(t0).TotalMilliseconds, value);
        }

        // Warm-up: the session's first runs on both sides; the stack's until its worker answers (it may still be loading).
        var warmDocs = documents.Take(Math.Clamp(warmupPairs, 1, passages)).ToList();
        await DirectAsync("warm-up " + nonce, warmDocs);
        var warmDeadline = DateTime.UtcNow.AddSeconds(Int("warm-seconds", 600));
        for (var attempt = 0; ; attempt++)
        {
            try { await StackAsync($"warm-up {nonce} {attempt}", warmDocs); break; }
            catch (Exception e) when (DateTime.UtcNow < warmDeadline)
            {
                Console.Error.WriteLine($"stack not ready: {e.Message.Split('\n')[0]}");
                await Task.Delay(1000);
            }
        }
        var pairTokens = reranker.Tokenize(null, $"{RerankPassages.Query} [r0-{nonce}]", documents[0]).TokenCount;
        Console.Error.WriteLine($"{passages} documents of {tokens} tokens (pairs of about {pairTokens}), {device}, model loaded in {loadSeconds:F1} s");

        var directMs = new List<double>(); var stackMs = new List<double>(); var cachedMs = new List<double>();
        var maxDiff = 0.0;
        for (var run = 0; run < runs; run++)
        {
            var query = $"{RerankPassages.Query} [r{run}-{nonce}]";
            var (d, direct) = await TimeAsync(() => DirectAsync(query, documents));
            var (s, stack) = await TimeAsync(() => StackAsync(query, documents));
            var (c, _) = await TimeAsync(() => StackAsync(query, documents));
            directMs.Add(d); stackMs.Add(s); cachedMs.Add(c);
            maxDiff = Math.Max(maxDiff, direct.Zip(stack, (x, y) => Math.Abs(x - y)).Max());
            Console.Error.WriteLine($"run {run}: direct {d:F0} ms, stack {s:F0} ms, stack cached {c:F1} ms");
        }

        async Task<Dictionary<string, object>> SaturateAsync(string name, Func<string, IReadOnlyList<string>, Task<float[]>> call)
        {
            var latencies = new ConcurrentBag<double>();
            long pairsDone = 0, errors = 0, lastDone = 0;
            var t0 = Stopwatch.GetTimestamp();
            await Task.WhenAll(Enumerable.Range(0, clients).Select(client => Task.Run(async () =>
            {
                for (var n = 0; Stopwatch.GetElapsedTime(t0).TotalSeconds < seconds; n++)
                {
                    try
                    {
                        var (ms, _) = await TimeAsync(() => call($"{RerankPassages.Query} [{name} c{client} n{n}-{nonce}]", documents));
                        latencies.Add(ms);
                        Interlocked.Add(ref pairsDone, passages);
                    }
                    catch (Exception e)
                    {
                        Interlocked.Increment(ref errors);
                        Console.Error.WriteLine($"{name}: {e.Message.Split('\n')[0]}");
                    }
                    Interlocked.Exchange(ref lastDone, Stopwatch.GetTimestamp());
                }
            })));
            var elapsed = Stopwatch.GetElapsedTime(t0, Interlocked.Read(ref lastDone)).TotalSeconds;
            var sorted = latencies.Order().ToList();
            var result = new Dictionary<string, object>
            {
                ["requests"] = sorted.Count, ["errors"] = errors, ["pairs"] = pairsDone, ["seconds"] = Math.Round(elapsed, 2),
                ["pairs_per_second"] = Math.Round(pairsDone / elapsed, 2),
                ["request_p50_ms"] = sorted.Count > 0 ? Math.Round(sorted[sorted.Count / 2], 1) : double.NaN,
            };
            Console.Error.WriteLine($"saturation, {name}: {JsonSerializer.Serialize(result)}");
            return result;
        }

        var satDirect = await SaturateAsync("direct", DirectAsync);
        var satStack = await SaturateAsync("stack", StackAsync);

        static double P50(List<double> xs) => xs.Order().ElementAt(xs.Count / 2);
        var result = new Dictionary<string, object?>
        {
            ["date"] = DateTime.UtcNow.ToString("u"), ["api"] = api.ToString(), ["model"] = model, ["model_dir"] = Arg("model-dir", ""),
            ["model_file"] = reranker.ModelFile, ["device"] = device.ToString(), ["cores"] = Environment.ProcessorCount,
            ["load_average"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : null,
            ["passages"] = passages, ["document_tokens"] = tokens, ["pair_tokens"] = pairTokens, ["runs"] = runs,
            ["max_batch_tokens"] = batchTokens, ["max_batch_size"] = batchSize, ["clients"] = clients, ["seconds"] = seconds,
            ["direct_ms"] = directMs, ["stack_ms"] = stackMs, ["stack_cached_ms"] = cachedMs,
            ["direct_p50_ms"] = Math.Round(P50(directMs), 1), ["stack_p50_ms"] = Math.Round(P50(stackMs), 1),
            ["stack_cached_p50_ms"] = Math.Round(P50(cachedMs), 2), ["stack_vs_direct_max_abs_dp"] = maxDiff,
            ["graph_vs_export_reference_max_abs_dp"] = referenceDiff,
            ["saturation_direct"] = satDirect, ["saturation_stack"] = satStack,
        };
        await File.WriteAllTextAsync(Arg("out-json", "rerank-stack.json"), JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));

        var (dp, sp) = (P50(directMs), P50(stackMs));
        var (dr, sr) = ((double)satDirect["pairs_per_second"], (double)satStack["pairs_per_second"]);
        string Runs(List<double> xs) => string.Join(", ", xs.Select(x => x.ToString(x < 100 ? "F1" : "F0")));
        var md = new StringBuilder();
        md.AppendLine($"{passages} documents of {tokens} tokens (pairs of about {pairTokens} tokens with the prompt), {device}; the worker's batches: "
                      + $"{batchTokens} padded tokens, at most {batchSize} pairs; {runs} runs, each a fresh query; saturation: {clients} clients, "
                      + $"new requests for {seconds} s, each a fresh query. Load average at the end: {result["load_average"]}.");
        md.AppendLine();
        md.AppendLine("| measure | direct (backend in-process) | stack (/v1/rerank) | stack / direct |");
        md.AppendLine("|---|---|---|---|");
        md.AppendLine($"| time to the ranked list, p50 (runs) | {dp:F0} ms ({Runs(directMs)}) | {sp:F0} ms ({Runs(stackMs)}) | {sp / dp:F3} |");
        md.AppendLine($"| the same request again (cache), p50 | | {P50(cachedMs):F1} ms ({Runs(cachedMs)}) | |");
        md.AppendLine($"| pairs/s at saturation | {dr:F1} ({satDirect["requests"]} requests in {satDirect["seconds"]} s) | {sr:F1} ({satStack["requests"]} requests in {satStack["seconds"]} s, {satStack["errors"]} errors) | {sr / dr:F3} |");
        md.AppendLine();
        md.AppendLine($"Scores, stack vs direct on the same queries: max |dP| {maxDiff:E1}."
                      + (referenceDiff is { } r ? $" The graph on {device} vs the exporter's float32 forward (reference-export.json): max |dP| {r:E1}." : ""));
        await File.WriteAllTextAsync(Arg("out-md", "rerank-stack.md"), md.ToString());
        Console.WriteLine(md.ToString());
        return (long)satStack["errors"] + (long)satDirect["errors"] == 0 ? 0 : 1;
    }
}
