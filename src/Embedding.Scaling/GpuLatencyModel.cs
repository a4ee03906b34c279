namespace Embedding.Scaling;

/// <summary>
/// How long one forward pass of an embedding model takes on a GPU, from figures measured on an H100 for
/// Qwen3-Embedding-4B, measured on an H100 (bench/results/gpu-batches-2026-11-25.md fits and checks it):
/// <c>max(floor, tokens / peak tokens/s)</c>, slowed for long sequences (attention: +15 % at 8k tokens).
/// Used by the simulated GPU backend and the elastic-cost simulator, so both follow one model.
/// </summary>
public sealed record GpuLatencyModel(double FloorMilliseconds = 8.6, double PeakTokensPerSecond = 48_000, double SlowdownAt8kTokens = 0.15)
{
    /// <summary>Seconds for a batch of <paramref name="tokens"/> tokens whose longest input has <paramref name="longest"/>.</summary>
    public double ForwardSeconds(long tokens, int longest)
    {
        var slowdown = 1 + SlowdownAt8kTokens * Math.Min(1.0, longest / 8192.0);
        return Math.Max(FloorMilliseconds / 1000.0, tokens / PeakTokensPerSecond * slowdown);
    }
}
