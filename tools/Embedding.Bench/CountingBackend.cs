using System.Diagnostics.Metrics;
using Embedding.Worker.Backends;

/// <summary>Any backend, counting the batches and texts it is given (what the batcher made of the load).</summary>
internal sealed class CountingBackend(IEmbeddingBackend inner) : IEmbeddingBackend
{
    private long _batches, _texts;
    public int Batches => (int)Interlocked.Read(ref _batches);
    public double MeanBatch => _batches == 0 ? 0 : (double)_texts / _batches;
    public int Dimensions => inner.Dimensions;
    public string Numerics => inner.Numerics;
    public int MaxInputTokens => inner.MaxInputTokens;
    public bool PadsBatches => inner.PadsBatches;
    public TokenizedText Tokenize(string text, bool truncate, int maxTokens = int.MaxValue) => inner.Tokenize(text, truncate, maxTokens);
    public Task<float[][]> EmbedAsync(IReadOnlyList<TokenizedText> batch, CancellationToken ct)
    {
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _texts, batch.Count);
        return inner.EmbedAsync(batch, ct);
    }
}

/// <summary>Meters for a batcher run outside a host (a benchmark's own).</summary>
internal sealed class BenchMeterFactory : IMeterFactory
{
    public Meter Create(MeterOptions options) => new(options);
    public void Dispose() { }
}
