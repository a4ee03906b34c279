using System.Collections.Concurrent;

namespace Embedding.Api.Security;

/// <summary>
/// <see cref="KeyBucket"/>s in this process: the store of a single API process without Redis, and every replica's
/// fallback while Redis cannot be reached (each replica then grants a key its allowance on its own).
/// </summary>
public sealed class LocalKeyBuckets(TimeProvider time)
{
    private readonly ConcurrentDictionary<(string Kind, string Key), State> _states = new();

    public (bool Allowed, TimeSpan RetryAfter) Take(KeyBucket bucket, double need, double cost)
    {
        var state = _states.GetOrAdd((bucket.Kind, bucket.Key), _ => new State(bucket.PerMinute, time.GetTimestamp()));
        lock (state)
        {
            var now = time.GetTimestamp();
            var tokens = Math.Min(bucket.PerMinute, state.Tokens + time.GetElapsedTime(state.Stamp, now).TotalMilliseconds * bucket.RatePerMillisecond);
            var (allowed, left, retryAfter) = bucket.Apply(tokens, need, cost);
            state.Tokens = left;
            state.Stamp = now;
            return (allowed, retryAfter);
        }
    }

    private sealed class State(double tokens, long stamp)
    {
        public double Tokens = tokens;
        public long Stamp = stamp;
    }
}
