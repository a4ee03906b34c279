using Embedding.Worker.Backends;

namespace Embedding.Worker.Batching;

/// <summary>
/// A reranker seen by the <see cref="TokenBudgetBatcher"/>: each pair's score as a one-value vector. The batcher then
/// batches pairs exactly as it batches texts (token budget counted in padded tokens, lengths kept close, interactive
/// requests first, a refused or unusable batch retried pair by pair), and checks each answer is one finite number.
/// Pairs arrive tokenised by <see cref="IRerankerBackend.Tokenize"/>; the batcher never tokenises.
/// </summary>
public sealed class RerankerBatches(IRerankerBackend reranker) : IEmbeddingBackend
{
    public IRerankerBackend Reranker { get; } = reranker;

    public int Dimensions => 1;
    public int MaxInputTokens => Reranker.MaxInputTokens;
    public string Numerics => Reranker.Numerics;
    public bool PadsBatches => Reranker.PadsBatches;

    public TokenizedText Tokenize(string text, bool truncate, int maxTokens = int.MaxValue) =>
        throw new NotSupportedException("A reranker tokenises pairs: IRerankerBackend.Tokenize.");

    public async Task<float[][]> EmbedAsync(IReadOnlyList<TokenizedText> batch, CancellationToken cancellationToken)
    {
        var scores = await Reranker.ScoreAsync(batch, cancellationToken);
        return scores.Select(s => new[] { s }).ToArray();
    }
}
