using Embedding.Api.Services;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Embedding.Api.Security;

/// <summary>
/// Where per-key limits are counted: in Redis when the API has one (<see cref="RedisKeyBuckets"/>, shared by every
/// replica), else in this process (<see cref="LocalKeyBuckets"/>). While Redis is unreachable, fails or is slower than
/// <c>Api:Auth:RedisTimeoutMilliseconds</c>, a check is decided by this process's own counters instead of failing the
/// request: limits then hold per replica (a key may get its allowance once from each) until Redis answers again.
/// <c>embedding.limits.local</c> counts those checks and a warning is logged, at most every 30 s.
/// </summary>
public sealed class KeyBuckets(LocalKeyBuckets local, RedisKeyBuckets? shared, IOptions<EmbeddingApiOptions> options,
                               ApiMetrics metrics, ILogger<KeyBuckets> logger)
{
    private readonly TimeSpan _timeout = TimeSpan.FromMilliseconds(options.Value.Auth.RedisTimeoutMilliseconds);
    private long _lastWarning = Environment.TickCount64 - 60_000;

    /// <summary>Applies <see cref="KeyBucket.Apply"/> to the key's bucket; if refused, how long until it would pass.</summary>
    public async ValueTask<(bool Allowed, TimeSpan RetryAfter)> TakeAsync(KeyBucket bucket, double need, double cost)
    {
        if (shared is null) return local.Take(bucket, need, cost);
        if (shared.IsConnected)
        {
            try
            {
                return await shared.TakeAsync(bucket, need, cost, _timeout);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                Fallback(bucket, ex);
                return local.Take(bucket, need, cost);
            }
        }
        Fallback(bucket, null);
        return local.Take(bucket, need, cost);
    }

    private void Fallback(KeyBucket bucket, Exception? ex)
    {
        metrics.LimitCheckedLocally(bucket.Kind);
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastWarning);
        if (now - last > 30_000 && Interlocked.CompareExchange(ref _lastWarning, now, last) == last)
            logger.LogWarning(ex, "Redis is unavailable for per-key limits; this replica counts requests and tokens on its own until it returns");
    }
}
