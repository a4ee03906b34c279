using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using Embedding.Worker;
using Embedding.Worker.Backends;
using Embedding.Worker.Batching;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

/// <summary>
/// The worker's real TokenBudgetBatcher under open-loop load (Poisson arrivals, fixed seed) against an engine: the
/// SIMULATED GPU backend (latency model of Qwen3-Embedding-4B on an H100) here, the CUDA ONNX backend in
/// bench/gpu/OnnxCudaBench. Reports tokens/s as a share of the engine's peak, and latency against the engine's floor.
/// </summary>
public static class BatchingBench
{
    public sealed record Scenario(string Name, double Rate, Func<Random, int> Length, double Seconds);
    public sealed record Result(Scenario Scenario, WorkerOptions Options, int Requests, double TokensPerSecond, double PeakShare,
                                double P50Ms, double P99Ms, double MeanBatch, double FloorMs);

    /// <summary>Against the SIMULATED GPU: its peak and its floor for one text of the scenario's length come from its model.</summary>
    public static Task<Result> RunAsync(Scenario scenario, WorkerOptions options, SimulatedGpuOptions gpu)
    {
        var typical = new TokenizedText("x", [], scenario.Length(new Random(1)));
        var floorMs = new SimulatedGpuBackend(gpu).ForwardSeconds([typical]) * 1000;
        return RunAsync(scenario, options, new SimulatedGpuBackend(gpu), length => new TokenizedText("", [], length), gpu.PeakTokensPerSecond, floorMs);
    }

    /// <summary>
    /// Against any engine. <paramref name="text"/> makes a request's text of a given token count (an engine that reads
    /// the ids needs real ones); <paramref name="peakTokensPerSecond"/> and <paramref name="floorMs"/> are the engine's
    /// own, which the caller measures.
    /// </summary>
    public static async Task<Result> RunAsync(Scenario scenario, WorkerOptions options, IEmbeddingBackend engine, Func<int, TokenizedText> text,
                                              double peakTokensPerSecond, double floorMs)
    {
        var backend = new CountingBackend(engine);
        var meters = new BenchMeterFactory();
        var batcher = new TokenBudgetBatcher(backend, Options.Create(options), new WorkerMetrics(meters, Options.Create(options)), NullLogger<TokenBudgetBatcher>.Instance);
        await batcher.StartAsync(CancellationToken.None);

        var random = new Random(42);
        var latencies = new List<double>();
        var pending = new List<Task>();
        long tokens = 0;
        var clock = Stopwatch.StartNew();
        var next = 0.0;
        while (next < scenario.Seconds)
        {
            var wait = next - clock.Elapsed.TotalSeconds;
            if (wait > 0.002) await Task.Delay(TimeSpan.FromSeconds(wait - 0.001));
            while (clock.Elapsed.TotalSeconds < next) Thread.SpinWait(20);
            var length = scenario.Length(random);
            tokens += length;
            var request = text(length);
            var sent = clock.Elapsed.TotalSeconds;
            pending.Add(Task.Run(async () =>
            {
                await batcher.EmbedAsync([request], CancellationToken.None);
                var ms = (clock.Elapsed.TotalSeconds - sent) * 1000;
                lock (latencies) latencies.Add(ms);
            }));
            next += -Math.Log(1 - random.NextDouble()) / scenario.Rate;  // exponential gaps: Poisson arrivals
        }
        await Task.WhenAll(pending);
        var elapsed = clock.Elapsed.TotalSeconds;
        await batcher.StopAsync(CancellationToken.None);

        latencies.Sort();
        var tokensPerSecond = tokens / elapsed;
        return new Result(scenario, options, latencies.Count, tokensPerSecond, tokensPerSecond / peakTokensPerSecond,
            latencies[latencies.Count / 2], latencies[(int)(latencies.Count * 0.99)], backend.MeanBatch, floorMs);
    }

    public static string Table(IEnumerable<Result> results)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| scenario | offered req/s | budget (tokens) | max wait | batches in flight | requests | tokens/s | share of peak | mean batch | p50 | p99 | p50 / floor |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in results)
            sb.AppendLine($"| {r.Scenario.Name} | {r.Scenario.Rate:F0} | {r.Options.MaxBatchTokens} | {r.Options.MaxWaitMilliseconds} ms | {r.Options.MaxConcurrentBatches} | " +
                          $"{r.Requests} | {r.TokensPerSecond:F0} | {r.PeakShare:P0} | {r.MeanBatch:F1} | {r.P50Ms:F1} ms | {r.P99Ms:F1} ms | {r.P50Ms / r.FloorMs:F2} |");
        return sb.ToString();
    }
}
