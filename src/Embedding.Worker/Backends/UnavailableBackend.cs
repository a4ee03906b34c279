using Embedding.Worker.Model;

namespace Embedding.Worker.Backends;

/// <summary>
/// Stands in for a model that could not be had (offline, a missing file, a refused download). The worker still takes
/// its tier's messages and answers each with <c>model_unavailable</c> and <see cref="Reason"/>, so callers get a clear
/// 503 at once instead of waiting for a worker that never comes. It stands in for an embedding model and a reranker alike.
/// </summary>
public sealed class UnavailableBackend(string reason) : IEmbeddingBackend, IRerankerBackend
{
    public string Reason { get; } = reason;

    public int Dimensions => 0;
    public string Numerics => "";  // it makes no vectors nor scores
    public int MaxInputTokens => int.MaxValue;
    public bool PadsBatches => false;

    public TokenizedText Tokenize(string text, bool truncate, int maxTokens = int.MaxValue) => new(text, [], TokenEstimate.Count(text));

    public Task<float[][]> EmbedAsync(IReadOnlyList<TokenizedText> batch, CancellationToken cancellationToken) =>
        throw new ModelUnavailableException(Reason);

    public TokenizedText Tokenize(string? instruction, string query, string document, int maxTokens = int.MaxValue) =>
        new(document, [], TokenEstimate.Count(document));

    public int TokensWithoutDocument(string? instruction, string query) => TokenEstimate.Count(query);

    public Task<float[]> ScoreAsync(IReadOnlyList<TokenizedText> batch, CancellationToken cancellationToken) =>
        throw new ModelUnavailableException(Reason);
}
