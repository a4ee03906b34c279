using System.Collections.Concurrent;

namespace Embedding.Api.Security;

/// <summary>
/// Tokens per minute per key, charged after the fact from the real usage (tokens are only known once the model's
/// tokenizer has counted them). A key may start a request while its balance is positive; a large request can take
/// it below zero, and it then waits until the balance refills, as OpenAI's TPM limits behave.
/// </summary>
public sealed class TokenQuotas(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Balance> _balances = new(StringComparer.Ordinal);

    /// <summary>Whether <paramref name="key"/> may start a request now; if not, how long until it may.</summary>
    public bool TryStart(string key, long tokensPerMinute, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (tokensPerMinute <= 0) return true;
        var balance = _balances.GetOrAdd(key, _ => new Balance(tokensPerMinute, time.GetTimestamp()));
        lock (balance)
        {
            var tokens = balance.Refill(tokensPerMinute, time);
            if (tokens > 0) return true;
            retryAfter = TimeSpan.FromSeconds(Math.Ceiling((1 - tokens) / (tokensPerMinute / 60.0)));
            return false;
        }
    }

    public void Charge(string key, long tokensPerMinute, long tokens)
    {
        if (tokensPerMinute <= 0 || !_balances.TryGetValue(key, out var balance)) return;
        lock (balance)
        {
            balance.Refill(tokensPerMinute, time);
            balance.Tokens -= tokens;
        }
    }

    private sealed class Balance(double tokens, long stamp)
    {
        public double Tokens = tokens;
        private long _stamp = stamp;

        public double Refill(long perMinute, TimeProvider time)
        {
            var now = time.GetTimestamp();
            Tokens = Math.Min(perMinute, Tokens + time.GetElapsedTime(_stamp, now).TotalSeconds * perMinute / 60.0);
            _stamp = now;
            return Tokens;
        }
    }
}
