namespace Embedding.Worker.Backends;

/// <summary>
/// A cross-encoder that scores (query, document) pairs: a reranker tier's model. Each pair is one sequence (the model's
/// prompt around the instruction, the query and the document), scored on its own; batches only share the forward pass.
/// </summary>
public interface IRerankerBackend
{
    /// <summary>Longest pair in tokens, prompt included.</summary>
    int MaxInputTokens { get; }

    /// <summary>What makes this backend's scores (<see cref="BackendNumerics"/>); the API caches scores under it.</summary>
    string Numerics { get; }

    /// <summary>True when a batch costs (longest pair x batch size) tokens, as with padded tensors.</summary>
    bool PadsBatches { get; }

    /// <summary>
    /// The pair as the model reads it, cut at the document's end where it would be longer than
    /// <paramref name="maxTokens"/> (at most <see cref="MaxInputTokens"/>), as the model's authors truncate.
    /// </summary>
    /// <param name="instruction">The task instruction; null: the model's default (as the official example: only None means the default).</param>
    TokenizedText Tokenize(string? instruction, string query, string document, int maxTokens = int.MaxValue);

    /// <summary>Tokens of a pair with an empty document: a pair limit below this leaves no room for any document.</summary>
    int TokensWithoutDocument(string? instruction, string query);

    /// <summary>One relevance score in [0, 1] (the model's P("yes")) per pair, in order.</summary>
    Task<float[]> ScoreAsync(IReadOnlyList<TokenizedText> batch, CancellationToken cancellationToken);
}
