using System.Diagnostics;

namespace Embedding.Worker.Backends;

/// <summary>
/// A SIMULATION of an embedding engine on one GPU, for measuring batching without a GPU: one forward pass
/// at a time, each taking max(floor, tokens / peak tokens/s), slowed for long sequences (attention),
/// per the latency model measured for Qwen3-Embedding-4B on an H100 (shared/anchors/README.md).
/// Vectors are the fake backend's hashes. Never use it to serve anyone.
/// </summary>
public sealed class SimulatedGpuBackend(SimulatedGpuOptions options) : IEmbeddingBackend
{
    private readonly SemaphoreSlim _gpu = new(1);  // the GPU runs one forward pass at a time

    public int Dimensions => options.Dimensions;
    public int MaxInputTokens => options.MaxInputTokens;
    public bool PadsBatches => options.PadsBatches;

    public TokenizedText Tokenize(string text, bool truncate, int maxTokens = int.MaxValue) => new(text, [], TokenEstimate.Count(text));

    /// <summary>Seconds one forward pass over this batch takes, by the latency model.</summary>
    public double ForwardSeconds(IReadOnlyList<TokenizedText> batch)
    {
        var longest = batch.Max(t => t.TokenCount);
        var tokens = options.PadsBatches ? longest * batch.Count : batch.Sum(t => t.TokenCount);
        // Attention's share grows with sequence length: +15% at 8k tokens, linear in between.
        var slowdown = 1 + options.SlowdownAt8kTokens * Math.Min(1.0, longest / 8192.0);
        return Math.Max(options.FloorMilliseconds / 1000.0, tokens / options.PeakTokensPerSecond * slowdown);
    }

    public async Task<float[][]> EmbedAsync(IReadOnlyList<TokenizedText> batch, CancellationToken cancellationToken)
    {
        var seconds = ForwardSeconds(batch);
        await _gpu.WaitAsync(cancellationToken);
        try
        {
            await PreciseDelay(seconds, cancellationToken);
        }
        finally
        {
            _gpu.Release();
        }
        return batch.Select(t => FakeBackend.VectorFor(t.Text, Dimensions)).ToArray();
    }

    /// <summary>Task.Delay is ~1 ms coarse; sleep most of the time, then spin the rest, so short forwards are honest.</summary>
    private static async Task PreciseDelay(double seconds, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var coarse = seconds - 0.002;
        if (coarse > 0) await Task.Delay(TimeSpan.FromSeconds(coarse), ct);
        while (clock.Elapsed.TotalSeconds < seconds) Thread.SpinWait(50);
    }
}
