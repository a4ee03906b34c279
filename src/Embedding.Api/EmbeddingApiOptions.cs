using Embedding.Contracts;
using System.ComponentModel.DataAnnotations;

namespace Embedding.Api;

/// <summary>Every knob of the API, bound from the "Api" configuration section and validated at start.</summary>
public sealed class EmbeddingApiOptions
{
    public const string SectionName = "Api";

    /// <summary>The models (tiers) this service offers, embedding and reranker; each is served by the workers of its queue.</summary>
    [MinLength(1)] public List<ModelOptions> Models { get; set; } = [];

    /// <summary>Inputs per request; OpenAI's limit is 2048.</summary>
    [Range(1, 100_000)] public int MaxInputs { get; set; } = 2048;

    /// <summary>Documents one rerank request may hold (Cohere's limit: 10,000).</summary>
    [Range(1, 100_000)] public int MaxRerankDocuments { get; set; } = 10_000;

    /// <summary>Largest request body; larger ones get 413.</summary>
    [Range(1024, 1L << 31)] public long MaxRequestBodyBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>How long a request waits for a worker (queue time included) before 503 + Retry-After.</summary>
    [Range(1, 3600)] public int RequestTimeoutSeconds { get; set; } = 60;

    [Range(1, 3600)] public int RetryAfterSeconds { get; set; } = 5;

    /// <summary>The task used for <c>input_type: "query"</c> when the request names no instruction.</summary>
    [Required] public string DefaultQueryInstruction { get; set; } = "Given a web search query, retrieve relevant passages that answer the query";

    /// <summary>
    /// Tokens one input may have (OpenAI: 8192); longer inputs are rejected, or cut with "truncate": true. A rerank pair
    /// (prompt, query and document together) is one input: its document is cut to fit, as Cohere cuts long documents.
    /// </summary>
    [Range(1, 1_000_000)] public int MaxTokensPerInput { get; set; } = 8192;

    /// <summary>Tokens all inputs of one request may have together (OpenAI: 300,000).</summary>
    [Range(1, 100_000_000)] public long MaxTokensPerRequest { get; set; } = 300_000;

    /// <summary>Requests in flight at once in this API process; beyond it, 503 + Retry-After instead of growing memory.</summary>
    [Range(1, 1_000_000)] public int MaxConcurrentRequests { get; set; } = 1024;

    /// <summary>How often the API reads each tier's queue depth for its metrics; 0 turns the readings off.</summary>
    [Range(0, 3600)] public int QueueMetricsSeconds { get; set; } = 5;

    public AuthOptions Auth { get; set; } = new();

    public CacheOptions Cache { get; set; } = new();

    public BatchOptions Batches { get; set; } = new();

    public ModelOptions? Find(string name) => Models.FirstOrDefault(m => m.IsCalled(name));
}

/// <summary>A model the API serves: its identity (names, dimensions; shared with the AppHost's tiers) and how it is listed.</summary>
public sealed class ModelOptions : ModelIdentity
{
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

    public NearDuplicateOptions NearDuplicates { get; set; } = new();
}

/// <summary>
/// Reusing the vector of a near-identical text already embedded (off by default: the answer is then the neighbour's
/// vector, not the text's own). bench/results/near-duplicates-*.md measures the error and the work saved per threshold.
/// </summary>
public sealed class NearDuplicateOptions
{
    public bool Enabled { get; set; }

    /// <summary>Largest SimHash distance (bits of 64) still counted as the same text; 0 = equal after normalisation only.</summary>
    [Range(0, 15)] public int MaxDistance { get; set; } = 3;

    /// <summary>Shorter texts (in characters) are always embedded themselves.</summary>
    [Range(1, 1_000_000)] public int MinCharacters { get; set; } = 40;

    /// <summary>Fingerprints remembered (about 150 bytes each, plus the bands).</summary>
    [Range(1, 100_000_000)] public int MaxEntries { get; set; } = 1_000_000;
}

/// <summary>OpenAI-style batch jobs (<c>/v1/files</c>, <c>/v1/batches</c>): where they are kept and how hard they push.</summary>
public sealed class BatchOptions
{
    /// <summary>
    /// Directory for the uploaded and produced files (and the job database, when that is SQLite). Jobs survive restarts as
    /// long as this survives (a volume in a container); with PostgreSQL (<c>ConnectionStrings:batches</c>) every replica
    /// must see the same directory (a ReadWriteMany volume, an Azure Files share). Empty: <c>batches</c> under the user's
    /// local application data.
    /// </summary>
    public string StoragePath { get; set; } = "";

    /// <summary>
    /// SQLite journal of the job database: <c>WAL</c> (readers never wait for the runner's checkpoints) on a local disk;
    /// <c>DELETE</c> where <see cref="StoragePath"/> is a network share (Azure Files), on which WAL's shared memory
    /// cannot be trusted.
    /// </summary>
    [AllowedValues("WAL", "DELETE")] public string JournalMode { get; set; } = "WAL";

    /// <summary>Largest uploaded file (OpenAI: 200 MB).</summary>
    [Range(1024, 1L << 40)] public long MaxFileBytes { get; set; } = 200L * 1024 * 1024;

    /// <summary>Requests (lines) one batch may hold (OpenAI: 50,000).</summary>
    [Range(1, 10_000_000)] public int MaxRequestsPerBatch { get; set; } = 50_000;

    /// <summary>
    /// Lines of one job on their way to the workers at once. Kept small so a job never floods the queue: interactive
    /// requests overtake what waits there, but not what a worker already holds.
    /// </summary>
    [Range(1, 1024)] public int ConcurrentRequestsPerJob { get; set; } = 8;

    /// <summary>Jobs processed at once by this API instance; others wait their turn (oldest first).</summary>
    [Range(1, 64)] public int MaxActiveJobs { get; set; } = 2;

    /// <summary>How long one line waits for a worker before it is sent again: long enough for a tier to start from zero.</summary>
    [Range(1, 86_400)] public int RequestTimeoutSeconds { get; set; } = 600;

    /// <summary>
    /// How long a runner's claim on a job lasts without renewal (renewed every third of it while the job runs): how soon
    /// another replica resumes the job of one that died.
    /// </summary>
    [Range(2, 3600)] public int LeaseSeconds { get; set; } = 30;

    /// <summary>How often progress is written to the job database (and so how much a crash makes the job redo).</summary>
    [Range(10, 60_000)] public int CheckpointMilliseconds { get; set; } = 500;

    public string ResolvedStoragePath => StoragePath is { Length: > 0 } path ? path
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "embedding-service", "batches");
}

/// <summary>API keys, and what each may do. No keys: the API is open (development only; logged at start).</summary>
public sealed class AuthOptions
{
    public List<ApiKeyOptions> Keys { get; set; } = [];

    /// <summary>Defaults for keys that set no limit of their own (OpenAI's first tier for embeddings: 3,000 RPM, 1M TPM). 0 = unlimited.</summary>
    [Range(0, int.MaxValue)] public int RequestsPerMinute { get; set; } = 3000;
    [Range(0, long.MaxValue)] public long TokensPerMinute { get; set; } = 1_000_000;

    /// <summary>A limit check in Redis slower than this is decided by this process's own counters (KeyBuckets).</summary>
    [Range(10, 60_000)] public int RedisTimeoutMilliseconds { get; set; } = 500;

    /// <summary>A key's limits: its own, else the defaults. The anonymous caller of an open API is not limited.</summary>
    public (int RequestsPerMinute, long TokensPerMinute) LimitsFor(string keyName)
    {
        if (Keys.Count == 0) return (0, 0);
        var key = Keys.FirstOrDefault(k => k.Name == keyName);
        return (key?.RequestsPerMinute ?? RequestsPerMinute, key?.TokensPerMinute ?? TokensPerMinute);
    }
}

public sealed class ApiKeyOptions
{
    /// <summary>Who the key belongs to; the only part of it that logs, traces and metrics show.</summary>
    [Required] public string Name { get; set; } = "";

    /// <summary>SHA-256 of the key, hex (<c>printf %s "$KEY" | sha256sum</c>); the key itself is never stored.</summary>
    [Required] public string Sha256 { get; set; } = "";

    /// <summary>Models this key may use (names or aliases); empty = all.</summary>
    public List<string> Models { get; set; } = [];

    public int? RequestsPerMinute { get; set; }
    public long? TokensPerMinute { get; set; }

    public static string Hash(string key) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)));

    public static string NormaliseHash(string hash) => hash.Trim().ToLowerInvariant().Replace("sha256:", "");
}
