using System.ComponentModel.DataAnnotations;

namespace Embedding.Api;

/// <summary>Every knob of the API, bound from the "Api" configuration section and validated at start.</summary>
public sealed class EmbeddingApiOptions
{
    public const string SectionName = "Api";

    /// <summary>The models (tiers) this service offers; each is served by the workers of its queue.</summary>
    [MinLength(1)] public List<ModelOptions> Models { get; set; } = [];

    /// <summary>Inputs per request; OpenAI's limit is 2048.</summary>
    [Range(1, 100_000)] public int MaxInputs { get; set; } = 2048;

    /// <summary>Largest request body; larger ones get 413.</summary>
    [Range(1024, 1L << 31)] public long MaxRequestBodyBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>How long a request waits for a worker (queue time included) before 503 + Retry-After.</summary>
    [Range(1, 3600)] public int RequestTimeoutSeconds { get; set; } = 60;

    [Range(1, 3600)] public int RetryAfterSeconds { get; set; } = 5;

    /// <summary>The task used for <c>input_type: "query"</c> when the request names no instruction.</summary>
    [Required] public string DefaultQueryInstruction { get; set; } = "Given a web search query, retrieve relevant passages that answer the query";

    public CacheOptions Cache { get; set; } = new();

    public ModelOptions? Find(string name) =>
        Models.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase)
                                   || m.Aliases.Contains(name, StringComparer.OrdinalIgnoreCase));
}

public sealed class ModelOptions
{
    [Required] public string Name { get; set; } = "";

    /// <summary>Other names accepted for this model, e.g. the Hugging Face id "Qwen/Qwen3-Embedding-0.6B".</summary>
    public List<string> Aliases { get; set; } = [];

    /// <summary>Native vector length.</summary>
    [Range(1, 100_000)] public int Dimensions { get; set; }

    /// <summary>Matryoshka-trained: any prefix of 32..Dimensions values, renormalised, is a valid embedding.</summary>
    public bool Matryoshka { get; set; } = true;

    public string OwnedBy { get; set; } = "embedding-service";
}

public sealed class CacheOptions
{
    /// <summary>Bytes of vectors kept in process (L1).</summary>
    [Range(0, 1L << 40)] public long MemoryBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>How long vectors stay in Redis (L2).</summary>
    [Range(1, 24 * 365)] public int RedisTtlHours { get; set; } = 24 * 7;

    /// <summary>Redis calls slower than this count as misses, so a sick Redis cannot slow requests down much.</summary>
    [Range(10, 60_000)] public int RedisTimeoutMilliseconds { get; set; } = 500;
}
