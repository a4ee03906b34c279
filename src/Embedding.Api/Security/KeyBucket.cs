namespace Embedding.Api.Security;

/// <summary>
/// One key's allowance of something per minute (requests, tokens), as a token bucket: it holds at most a minute's
/// worth, refills continuously at the per-minute rate, and a check passes while it holds at least what the check
/// needs. <see cref="LocalKeyBuckets"/> keeps buckets in this process, <see cref="RedisKeyBuckets"/> in Redis; both
/// follow these rules.
/// </summary>
/// <param name="Kind">What is counted: <c>requests</c> or <c>tokens</c> (the Redis key and the metric tag say it).</param>
/// <param name="Key">The API key's name (never the key itself).</param>
/// <param name="PerMinute">The allowance; the bucket's capacity and its refill per minute.</param>
public readonly record struct KeyBucket(string Kind, string Key, long PerMinute)
{
    /// <summary>Refill per millisecond.</summary>
    public double RatePerMillisecond => PerMinute / 60_000.0;

    /// <summary>
    /// The rule both stores apply to a bucket holding <paramref name="tokens"/>: a check that needs
    /// <paramref name="need"/> (0: always passes, as a charge after the fact does) passes and takes
    /// <paramref name="cost"/>; one that does not pass waits until the bucket holds <paramref name="need"/>.
    /// </summary>
    public (bool Allowed, double Tokens, TimeSpan RetryAfter) Apply(double tokens, double need, double cost)
    {
        if (need <= 0 || tokens >= need) return (true, tokens - cost, TimeSpan.Zero);
        return (false, tokens, TimeSpan.FromMilliseconds(Math.Ceiling((need - tokens) / RatePerMillisecond)));
    }
}
