using System.Security.Cryptography;
using System.Text;
using Embedding.Contracts;

namespace Embedding.Worker.Backends;

/// <summary>
/// FAKE backend: returns a deterministic unit vector derived from a hash of the text, after a fixed delay per call
/// (Worker:Fake:DelayMilliseconds, none by default). Not a model. It exists only to measure the service's own overhead
/// (API, cache, queue, batching) and to hold a worker busy in tests.
/// </summary>
public sealed class FakeBackend(FakeBackendOptions options) : IEmbeddingBackend
{
    public int Dimensions => options.Dimensions;
    public string Numerics => BackendNumerics.Fake;
    public int MaxInputTokens => options.MaxInputTokens;
    public bool PadsBatches => false;

    public TokenizedText Tokenize(string text, bool truncate, int maxTokens = int.MaxValue) => new(text, [], TokenEstimate.Count(text));

    public async Task<float[][]> EmbedAsync(IReadOnlyList<TokenizedText> batch, CancellationToken cancellationToken)
    {
        if (options.DelayMilliseconds > 0) await PreciseDelay.WaitAsync(TimeSpan.FromMilliseconds(options.DelayMilliseconds), cancellationToken);
        var result = new float[batch.Count][];
        for (var i = 0; i < batch.Count; i++) result[i] = VectorFor(batch[i].Text, Dimensions);
        return result;
    }

    public static float[] VectorFor(string text, int dimensions)
    {
        var seed = BitConverter.ToUInt64(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
        var v = new float[dimensions];
        for (var i = 0; i < v.Length; i++)
        {
            seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;  // xorshift64
            v[i] = (seed >> 40) / (float)(1 << 24) - 0.5f;
        }
        VectorMath.Normalize(v);
        return v;
    }
}
