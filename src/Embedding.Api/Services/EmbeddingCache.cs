using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Embedding.Contracts;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Embedding.Api.Services;

/// <summary>
/// Two cache levels keyed by SHA-256 of (model, numerics, text as embedded), or for a reranker tier of the scored pair
/// (<see cref="PairKey"/>): L1 in process, bounded by bytes;
/// L2 in Redis, shared by every API replica. Lookups for a whole request go to Redis in one MGET.
/// Redis is optional: when it is absent, down or slow, requests are served uncached and
/// <c>embedding.cache.l2.errors</c> counts it; it never fails a request.
/// (HybridCache is the usual choice for one key at a time; a request here holds up to 2048 keys and
/// must not wait on a dead Redis, hence this small class on IMemoryCache + StackExchange.Redis.)
/// </summary>
public sealed class EmbeddingCache
{
    private const int EntryOverheadBytes = 96;  // key, record and array headers, counted against the L1 byte budget
    private readonly MemoryCache _memory;
    private readonly IConnectionMultiplexer? _redis;
    private readonly CacheOptions _options;
    private readonly ApiMetrics _metrics;
    private readonly ILogger<EmbeddingCache> _logger;
    private long _lastWarning;

    public EmbeddingCache(IOptions<EmbeddingApiOptions> options, ApiMetrics metrics, ILogger<EmbeddingCache> logger, IConnectionMultiplexer? redis = null)
    {
        _options = options.Value.Cache;
        _memory = new MemoryCache(new MemoryCacheOptions { SizeLimit = Math.Max(1, _options.MemoryBytes), CompactionPercentage = 0.1 });
        _redis = redis;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>
    /// The key of <paramref name="text"/>'s vector in tier <paramref name="model"/> as made by <paramref name="numerics"/>
    /// (the backend identity, <see cref="TextsEmbedded.Numerics"/>; "" where unknown): vectors of two identities never share a key.
    /// </summary>
    public static string Key(string model, string numerics, string text)
    {
        var bytes = Encoding.UTF8.GetBytes($"{model.ToLowerInvariant()}\n{numerics}\n{text}");
        return $"emb:v2:{Convert.ToHexStringLower(SHA256.HashData(bytes))}";
    }

    /// <summary>
    /// The key of a reranker tier's score for one (query, document) pair, stored as a one-value vector with the pair's tokens.
    /// Every part that changes the score is in it: the tier, the numerics that made it, the instruction (null: the
    /// model's default), the token limit the document was cut to, the query and the document. Each variable part is
    /// prefixed by its length, so no two different pairs share the text that is hashed.
    /// </summary>
    public static string PairKey(string model, string numerics, string? instruction, int maxTokensPerPair, string query, string document)
    {
        var text = $"{model.ToLowerInvariant()}\n{numerics}\n{maxTokensPerPair}\n{instruction?.Length ?? -1}:{instruction}\n{query.Length}:{query}\n{document}";
        return $"rr:v1:{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))}";
    }

    /// <summary>
    /// Fills <paramref name="found"/>[i] for every key found in L1 or L2; L2 hits are copied into L1.
    /// <paramref name="countHits"/>: false for lookups that are not a request's own texts (a near-duplicate's vector).
    /// </summary>
    public async Task LookupAsync(IReadOnlyList<string> keys, CachedEmbedding?[] found, CancellationToken ct, bool countHits = true)
    {
        using var activity = ApiMetrics.ActivitySource.StartActivity("cache lookup");
        activity?.SetTag("embedding.cache.keys", keys.Count);
        List<int>? missing = null;
        for (var i = 0; i < keys.Count; i++)
        {
            if (_memory.TryGetValue(keys[i], out CachedEmbedding? hit)) found[i] = hit;
            else (missing ??= []).Add(i);
        }
        if (countHits) _metrics.CacheLookups(level: "l1", hits: keys.Count - (missing?.Count ?? 0), misses: missing?.Count ?? 0);
        activity?.SetTag("embedding.cache.l1.hits", keys.Count - (missing?.Count ?? 0));
        if (missing is null || !TryGetRedis(out var db)) return;

        RedisValue[] values;
        try
        {
            values = await db.StringGetAsync(missing.Select(i => (RedisKey)keys[i]).ToArray())
                .WaitAsync(TimeSpan.FromMilliseconds(_options.RedisTimeoutMilliseconds), ct);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            RedisFailed(ex);
            return;
        }
        var hits = 0;
        for (var j = 0; j < missing.Count; j++)
        {
            if (values[j].IsNull || Decode(values[j]) is not { } entry) continue;
            found[missing[j]] = entry;
            PutMemory(keys[missing[j]], entry);
            hits++;
        }
        if (countHits) _metrics.CacheLookups(level: "l2", hits: hits, misses: missing.Count - hits);
        activity?.SetTag("embedding.cache.l2.hits", hits);
    }

    /// <summary>Stores new vectors in both levels; the Redis writes are fire-and-forget.</summary>
    public void Store(IReadOnlyList<string> keys, IReadOnlyList<CachedEmbedding> entries)
    {
        for (var i = 0; i < keys.Count; i++) PutMemory(keys[i], entries[i]);
        if (!TryGetRedis(out var db)) return;
        try
        {
            var ttl = TimeSpan.FromHours(_options.RedisTtlHours);
            for (var i = 0; i < keys.Count; i++)
                db.StringSet(keys[i], Encode(entries[i]), ttl, flags: CommandFlags.FireAndForget);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            RedisFailed(ex);
        }
    }

    private void PutMemory(string key, CachedEmbedding entry)
    {
        if (_options.MemoryBytes <= 0) return;
        using var cacheEntry = _memory.CreateEntry(key);
        cacheEntry.Value = entry;
        cacheEntry.Size = entry.Vector.Length * sizeof(float) + key.Length * 2 + EntryOverheadBytes;
    }

    private bool TryGetRedis(out IDatabase db)
    {
        db = null!;
        if (_redis is null) return false;
        if (!_redis.IsConnected)
        {
            RedisFailed(null);
            return false;
        }
        db = _redis.GetDatabase();
        return true;
    }

    private void RedisFailed(Exception? ex)
    {
        _metrics.CacheL2Error();
        // One warning per 30 s is enough to notice; one per request would flood the logs.
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastWarning);
        if (now - last > 30_000 && Interlocked.CompareExchange(ref _lastWarning, now, last) == last)
            _logger.LogWarning(ex, "Redis (cache L2) is unavailable; serving without it until it returns");
    }

    /// <summary>Redis value: int32 token count, then float32 values, little-endian.</summary>
    private static byte[] Encode(CachedEmbedding entry)
    {
        var bytes = new byte[sizeof(int) + entry.Vector.Length * sizeof(float)];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, entry.Tokens);
        VectorMath.WriteLittleEndian(entry.Vector, bytes.AsSpan(sizeof(int)));
        return bytes;
    }

    private static CachedEmbedding? Decode(RedisValue value)
    {
        ReadOnlySpan<byte> bytes = (byte[])value!;
        if (bytes.Length < sizeof(int) + sizeof(float) || (bytes.Length - sizeof(int)) % sizeof(float) != 0) return null;
        return new CachedEmbedding(VectorMath.Unpack(bytes[sizeof(int)..]), BinaryPrimitives.ReadInt32LittleEndian(bytes));
    }
}
