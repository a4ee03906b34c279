using StackExchange.Redis;

namespace Embedding.Api.Security;

/// <summary>
/// <see cref="KeyBucket"/>s in Redis, shared by every API replica: each check is one Lua script, which Redis runs
/// atomically, so N replicas together grant a key its allowance once. The script refills by Redis's own clock
/// (<c>TIME</c>), so the replicas' clocks need not agree, and gives each bucket an expiry of the time it takes to
/// refill: a full bucket is the same as none, so idle keys cost Redis nothing.
/// </summary>
public sealed class RedisKeyBuckets(IConnectionMultiplexer redis)
{
    public const string KeyPrefix = "embedding:limit:";

    // KeyBucket.Apply, in Lua. Hash fields: t = tokens held, s = when (ms, Redis clock). Returns {allowed, retry ms}.
    private const string Script = """
        local capacity = tonumber(ARGV[1])
        local need = tonumber(ARGV[2])
        local cost = tonumber(ARGV[3])
        local rate = capacity / 60000
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
        local state = redis.call('HMGET', KEYS[1], 't', 's')
        local tokens = tonumber(state[1]) or capacity
        local stamp = tonumber(state[2]) or now
        tokens = math.min(capacity, tokens + math.max(0, now - stamp) * rate)
        local allowed, retry = 1, 0
        if need > 0 and tokens < need then
          allowed = 0
          retry = math.ceil((need - tokens) / rate)
        else
          tokens = tokens - cost
        end
        redis.call('HSET', KEYS[1], 't', tostring(tokens), 's', tostring(now))
        redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate) + 1000)
        return {allowed, retry}
        """;

    public bool IsConnected => redis.IsConnected;

    public async Task<(bool Allowed, TimeSpan RetryAfter)> TakeAsync(KeyBucket bucket, double need, double cost, TimeSpan timeout)
    {
        var result = (RedisResult[])(await redis.GetDatabase()
            .ScriptEvaluateAsync(Script, [(RedisKey)(KeyPrefix + bucket.Kind + ":" + bucket.Key)], [bucket.PerMinute, need, cost])
            .WaitAsync(timeout))!;
        return ((long)result[0] == 1, TimeSpan.FromMilliseconds((long)result[1]));
    }
}
