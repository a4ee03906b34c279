namespace Embedding.Contracts;

// Messages between the API and the workers. Vectors travel as raw little-endian float32 bytes
// (base64 inside the JSON envelope): about 3x smaller and far cheaper to serialise than number arrays.

/// <summary>Texts the API could not answer from its cache. Texts already carry any query instruction.</summary>
/// <param name="Model">The model (tier) name; the queue is chosen from it too.</param>
/// <param name="Texts">Unique texts to embed.</param>
/// <param name="Truncate">Cut texts longer than the model's context instead of rejecting them.</param>
/// <param name="Priority">Who waits: the worker's batcher serves interactive texts before batch-job texts (the queue does too).</param>
public sealed record EmbedTexts(string Model, IReadOnlyList<string> Texts, bool Truncate = false, int MaxTokensPerInput = 0, long MaxTotalTokens = 0,
                                EmbedPriority Priority = EmbedPriority.Interactive);

/// <summary>The answer: one full-length, L2-normalised vector per text, in request order.</summary>
/// <param name="Dimensions">Native vector length.</param>
/// <param name="Vectors">Texts.Count x Dimensions float32 values, little-endian.</param>
/// <param name="TokenCounts">Tokens the model saw for each text (after truncation).</param>
/// <param name="Numerics">
/// What made the vectors: model, revision or file, precision (the worker's backend identity, e.g.
/// "engine:Qwen/Qwen3-Embedding-4B:bfloat16"); the API caches them under it. Null from workers that do not say.
/// </param>
public sealed record TextsEmbedded(int Dimensions, byte[] Vectors, int[] TokenCounts, string? Numerics = null);

/// <summary>The request cannot be served as asked (e.g. a text longer than the model's context).</summary>
/// <param name="Index">Index of the offending text in <see cref="EmbedTexts.Texts"/>, or -1.</param>
public sealed record EmbedRejected(int Index, string Code, string Message)
{
    /// <summary>The worker has no model to run (it could not be downloaded or loaded); Message says why. Not the caller's fault.</summary>
    public const string ModelUnavailable = "model_unavailable";

    /// <summary>The model engine refused the text as invalid (its HTTP 4xx); Message gives the engine's reason. The caller's fault.</summary>
    public const string InvalidInput = "invalid_input";
}

/// <summary>
/// The per-request token limit, one rule for both places that check it: the worker before spending model time on the
/// texts it was sent, the API on the whole request once cached texts are counted in.
/// </summary>
public static class TokenLimit
{
    public const string Code = "max_tokens_per_request";

    /// <summary>The error message when <paramref name="tokens"/> exceed <paramref name="max"/> (0 = no limit); null when within.</summary>
    public static string? Exceeded(long tokens, long max) => max > 0 && tokens > max
        ? $"The inputs have {tokens} tokens together; one request may have at most {max}. Split them over several requests."
        : null;
}

/// <summary>Queue naming and shape, shared by the API, the workers and the AppHost.</summary>
public static class EmbeddingQueues
{
    public static string ForModel(string model) => $"embed-{model.ToLowerInvariant()}";

    /// <summary>
    /// Each tier's queue is a RabbitMQ priority queue with two levels, so interactive requests overtake batch-job work
    /// waiting on the same queue (a message without a priority counts as 0, the lower level).
    /// </summary>
    public const byte MaxPriority = 1;

    /// <summary>The queue's arguments; whoever declares it first (API or worker) must use exactly these.</summary>
    public static IDictionary<string, object?> Arguments => new Dictionary<string, object?> { ["x-max-priority"] = (int)MaxPriority };
}

/// <summary>Who is waiting for an answer: a caller of <c>/v1/embeddings</c>, or a batch job.</summary>
public enum EmbedPriority : byte
{
    Batch = 0,
    Interactive = EmbeddingQueues.MaxPriority,
}
