namespace Embedding.Worker.Backends;

/// <summary>A text made ready for a backend: its token ids where the backend tokenises, and its token count.</summary>
/// <param name="Text">The text as it will be embedded (after truncation, when the backend works on text).</param>
/// <param name="TokenIds">Token ids including the end-of-sequence token, or empty for backends that take text.</param>
/// <param name="TokenCount">Tokens the model sees; what usage reports and what batches are budgeted by.</param>
public sealed record TokenizedText(string Text, int[] TokenIds, int TokenCount);

/// <summary>
/// One model engine. The batcher and the consumer never know which one runs: they tokenise through it,
/// batch by its token counts, and ask it for normalised vectors.
/// </summary>
public interface IEmbeddingBackend
{
    /// <summary>Native length of the vectors.</summary>
    int Dimensions { get; }

    /// <summary>Longest input in tokens, end-of-sequence token included.</summary>
    int MaxInputTokens { get; }

    /// <summary>
    /// What makes this backend's numbers (<see cref="BackendNumerics"/>): model, revision or file, precision. Every answer
    /// carries it, and the API caches vectors under it, so vectors of two identities never answer for each other.
    /// </summary>
    string Numerics { get; }

    /// <summary>True when a batch costs (longest input x batch size) tokens, as with padded tensors.</summary>
    bool PadsBatches { get; }

    /// <summary>
    /// Tokenises one text. Longer than <paramref name="maxTokens"/> (at most <see cref="MaxInputTokens"/>): cut to it
    /// when <paramref name="truncate"/> is set, else returned whole (the caller rejects it).
    /// </summary>
    TokenizedText Tokenize(string text, bool truncate, int maxTokens = int.MaxValue);

    /// <summary>One L2-normalised vector of <see cref="Dimensions"/> values per input, in order.</summary>
    Task<float[][]> EmbedAsync(IReadOnlyList<TokenizedText> batch, CancellationToken cancellationToken);

    /// <summary>Completes once the engine can answer; the worker takes no message before. In-process backends are ready once built.</summary>
    Task WaitUntilReadyAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>The engine failed or answered something unusable; the message is retried, then faulted.</summary>
public sealed class BackendException(string message, Exception? inner = null) : Exception(message, inner);
