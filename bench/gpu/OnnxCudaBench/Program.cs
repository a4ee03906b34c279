using System.Diagnostics;
using System.Text.Json;
using Embedding.Contracts;
using Embedding.Worker;
using Embedding.Worker.Backends;

// cold <model-dir> [device]:              a new process to its first vector, as a worker starts (JSON line)
// fidelity <model-dir> <reference.json> [device]: cosine of each text's vector (one padded batch) to the reference's
// throughput <model-dir> <BxL,...> <seconds> [device]: mean time per batch of B texts of L random tokens (no padding)
// poisson <model-dir> <lengths,...> <seconds> [device]: per length, the backend's own peak (closed loop of full batches) and
//                                 floor (one text per batch), then the worker's TokenBudgetBatcher in front of it under
//                                 Poisson arrivals (BatchingBench) at a low rate and above the peak (JSON lines)
// device: Cpu or Cuda (default Cuda), GPU 0.
var mode = args[0];
var directory = args[1];
var device = Enum.Parse<OnnxDevice>(args.Length > (mode switch { "cold" => 2, "fidelity" => 3, _ => 4 }) ? args[^1] : "Cuda", ignoreCase: true);
var started = Process.GetCurrentProcess().StartTime.ToUniversalTime();
double SinceStart() => (DateTime.UtcNow - started).TotalMilliseconds;

var load = Stopwatch.StartNew();
var prefetchThreads = int.TryParse(Environment.GetEnvironmentVariable("PREFETCH_THREADS"), out var t) ? t : new OnnxBackendOptions().PrefetchThreads;
using var backend = new OnnxQwen3Backend(directory, new OnnxBackendOptions { Device = device, PrefetchThreads = prefetchThreads });
var json = new JsonSerializerOptions { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };
var loadMs = load.Elapsed.TotalMilliseconds;
var readyMs = SinceStart();
var rng = new Random(20261202);
var config = Path.Combine(directory, "config.json");  // a test model's vocabulary is smaller than the 4B's 151,669
var vocab = File.Exists(config) ? Math.Min(151_000, JsonDocument.Parse(File.ReadAllBytes(config)).RootElement.GetProperty("vocab_size").GetInt32()) : 151_000;
TokenizedText Random(int length) { var ids = new int[length]; for (var i = 0; i < length; i++) ids[i] = rng.Next(0, vocab); return new("", ids, length); }

switch (mode)
{
    case "cold":
    {
        var first = Stopwatch.StartNew();
        var vector = (await backend.EmbedAsync([Random(16)], CancellationToken.None))[0];
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            device = device.ToString(), prefetch_threads = prefetchThreads, session_ms = loadMs, ready_since_process_start_ms = readyMs,
            first_forward_ms = first.Elapsed.TotalMilliseconds, first_vector_since_process_start_ms = SinceStart(),
            dims = vector.Length, finite = vector.All(float.IsFinite),
            peak_resident_mb = Process.GetCurrentProcess().PeakWorkingSet64 / 1e6,
        }, json));
        break;
    }
    case "fidelity":
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(args[2]));
        var items = doc.RootElement.GetProperty("embeddings").EnumerateArray().Select(e => (
            Ids: e.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
            Vector: e.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray())).ToList();
        var vectors = await backend.EmbedAsync(items.Select(i => new TokenizedText("", i.Ids, i.Ids.Length)).ToList(), CancellationToken.None);
        var cosines = items.Select((item, i) => VectorMath.Cosine(vectors[i], item.Vector)).ToArray();
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            device = device.ToString(), model = directory, tokens = items.Select(i => i.Ids.Length), cosines,
            min_cosine = cosines.Min(), all_finite = vectors.All(v => v.All(float.IsFinite)),
        }, json));
        break;
    }
    case "throughput":
    {
        var seconds = double.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture);
        foreach (var cell in args[2].Split(','))
        {
            var (b, l) = (int.Parse(cell.Split('x')[0]), int.Parse(cell.Split('x')[1]));
            var batch = Enumerable.Range(0, b).Select(_ => Random(l)).ToList();
            for (var i = 0; i < 2; i++) await backend.EmbedAsync(batch, CancellationToken.None);
            var times = new List<double>();
            var total = Stopwatch.StartNew();
            while (total.Elapsed.TotalSeconds < seconds || times.Count < 3)
            {
                var one = Stopwatch.StartNew();
                await backend.EmbedAsync(batch, CancellationToken.None);
                times.Add(one.Elapsed.TotalMilliseconds);
                if (times.Count >= 200) break;
            }
            var mean = times.Average();
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                device = device.ToString(), batch = b, tokens = l, runs = times.Count, mean_ms = mean, min_ms = times.Min(),
                tokens_per_s = b * l / (mean / 1000), texts_per_s = b / (mean / 1000),
            }, json));
        }
        break;
    }
    case "poisson":
    {
        var seconds = double.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture);
        // deploy/cuda-worker/Dockerfile's batching settings; the wait is the worker's default.
        WorkerOptions Gpu(int inFlight) => new() { MaxBatchTokens = 8192, MaxBatchSize = 256, MaxConcurrentBatches = inFlight };
        async Task<List<double>> Closed(List<TokenizedText> batch, double forSeconds)
        {
            for (var i = 0; i < 2; i++) await backend.EmbedAsync(batch, CancellationToken.None);
            var times = new List<double>();
            var total = Stopwatch.StartNew();
            while (total.Elapsed.TotalSeconds < forSeconds || times.Count < 5)
            {
                var one = Stopwatch.StartNew();
                await backend.EmbedAsync(batch, CancellationToken.None);
                times.Add(one.Elapsed.TotalMilliseconds);
            }
            times.Sort();
            return times;
        }
        foreach (var l in args[2].Split(',').Select(int.Parse))
        {
            var full = Math.Min(Gpu(1).MaxBatchSize, Gpu(1).MaxBatchTokens / l);  // the largest batch the batcher makes
            var peakTimes = await Closed(Enumerable.Range(0, full).Select(_ => Random(l)).ToList(), seconds);
            var peak = full * l / (peakTimes.Average() / 1000);
            var floorTimes = await Closed([Random(l)], seconds / 2);
            var floor = floorTimes[floorTimes.Count / 2];
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                kind = "engine", device = device.ToString(), tokens = l, full_batch = full, full_batch_mean_ms = peakTimes.Average(),
                peak_tokens_per_s = peak, floor_p50_ms = floor, floor_mean_ms = floorTimes.Average(), floor_runs = floorTimes.Count,
            }, json));
            var runs = new (string Name, double Rate, int InFlight)[]
            {
                ("low load", 10, 1),
                ("saturated", 1.3 * peak / l, 1),
                ("saturated", 1.3 * peak / l, 2),
            };
            foreach (var (name, rate, inFlight) in runs)
            {
                var scenario = new BatchingBench.Scenario($"{l} tokens, {name}", rate, _ => l, seconds);
                var r = await BatchingBench.RunAsync(scenario, Gpu(inFlight), backend, Random, peak, floor);
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    kind = "batcher", scenario = r.Scenario.Name, tokens = l, offered_per_s = rate, seconds, max_batch_tokens = r.Options.MaxBatchTokens,
                    max_batch_size = r.Options.MaxBatchSize, max_wait_ms = r.Options.MaxWaitMilliseconds, in_flight = inFlight,
                    requests = r.Requests, tokens_per_s = r.TokensPerSecond, peak_tokens_per_s = peak, share_of_peak = r.PeakShare,
                    mean_batch = r.MeanBatch, p50_ms = r.P50Ms, p99_ms = r.P99Ms, floor_ms = floor, p50_over_floor = r.P50Ms / r.FloorMs,
                }, json));
            }
        }
        break;
    }
}
