using Embedding.Contracts;
using Embedding.Scaling;

namespace Embedding.Worker.Backends;

/// <summary>
/// A SIMULATION of an embedding engine on one GPU, for measuring batching without a GPU: one forward pass
/// at a time, each taking max(floor, tokens / peak tokens/s), slowed for long sequences (attention),
/// per the latency model measured for Qwen3-Embedding-4B on an H100 (bench/results/gpu-batches-2026-11-25.md checks it against a real one).
/// Vectors are the fake backend's hashes. Never use it to serve anyone.
/// </summary>
public sealed class SimulatedGpuBackend(SimulatedGpuOptions options) : IEmbeddingBackend
{
    private readonly SemaphoreSlim _gpu = new(1);  // the GPU runs one forward pass at a time

    public int Dimensions => options.Dimensions;
    public string Numerics => BackendNumerics.SimulatedGpu;
    public int MaxInputTokens => options.MaxInputTokens;
    public bool PadsBatches => options.PadsBatches;

    public TokenizedText Tokenize(string text, bool truncate, int maxTokens = int.MaxValue) => new(text, [], TokenEstimate.Count(text));

    private readonly GpuLatencyModel _latency = new(options.FloorMilliseconds, options.PeakTokensPerSecond, options.SlowdownAt8kTokens);

    /// <summary>Seconds one forward pass over this batch takes, by the latency model.</summary>
    public double ForwardSeconds(IReadOnlyList<TokenizedText> batch)
    {
        var longest = batch.Max(t => t.TokenCount);
        var tokens = options.PadsBatches ? (long)longest * batch.Count : batch.Sum(t => (long)t.TokenCount);
        return _latency.ForwardSeconds(tokens, longest);
    }

    public async Task<float[][]> EmbedAsync(IReadOnlyList<TokenizedText> batch, CancellationToken cancellationToken)
    {
        var seconds = ForwardSeconds(batch);
        await _gpu.WaitAsync(cancellationToken);
        try
        {
            await PreciseDelay.WaitAsync(TimeSpan.FromSeconds(seconds), cancellationToken);
        }
        finally
        {
            _gpu.Release();
        }
        return batch.Select(t => FakeBackend.VectorFor(t.Text, Dimensions)).ToArray();
    }
}
