using System.Diagnostics;
using System.Text.Json;
using Embedding.Contracts;
using Embedding.Worker;
using Embedding.Worker.Backends;

// cold <model-dir> [device]:              a new process to its first vector, as a worker starts (JSON line)
// fidelity <model-dir> <reference.json> [device]: cosine of each text's vector (one padded batch) to the reference's
// throughput <model-dir> <BxL,...> <seconds> [device]: mean time per batch of B texts of L random tokens (no padding)
// device: Cpu or Cuda (default Cuda), GPU 0.
var mode = args[0];
var directory = args[1];
var device = Enum.Parse<OnnxDevice>(args.Length > (mode == "cold" ? 2 : 3) ? args[^1] : "Cuda", ignoreCase: true);
var started = Process.GetCurrentProcess().StartTime.ToUniversalTime();
double SinceStart() => (DateTime.UtcNow - started).TotalMilliseconds;

var load = Stopwatch.StartNew();
var prefetchThreads = int.TryParse(Environment.GetEnvironmentVariable("PREFETCH_THREADS"), out var t) ? t : new OnnxBackendOptions().PrefetchThreads;
using var backend = new OnnxQwen3Backend(directory, new OnnxBackendOptions { Device = device, PrefetchThreads = prefetchThreads });
var json = new JsonSerializerOptions { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };
var loadMs = load.Elapsed.TotalMilliseconds;
var readyMs = SinceStart();
var rng = new Random(20261202);
TokenizedText Random(int length) { var ids = new int[length]; for (var i = 0; i < length; i++) ids[i] = rng.Next(0, 151_000); return new("", ids, length); }

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
}
