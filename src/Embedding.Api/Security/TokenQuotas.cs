namespace Embedding.Api.Security;

/// <summary>
/// Tokens per minute per key, charged after the fact from the real usage (tokens are only known once the model's
/// tokenizer has counted them). A key may start a request while its bucket holds a token; a large request can take
/// it below zero, and it then waits until the bucket refills, as OpenAI's TPM limits behave. Counted in
/// <see cref="KeyBuckets"/>, so across replicas where there is Redis.
/// </summary>
public sealed class TokenQuotas(KeyBuckets buckets)
{
    public const string Kind = "tokens";

    /// <summary>Whether <paramref name="key"/> may start a request now; if not, how long until it may.</summary>
    public async ValueTask<(bool Allowed, TimeSpan RetryAfter)> TryStartAsync(string key, long tokensPerMinute)
    {
        if (tokensPerMinute <= 0) return (true, TimeSpan.Zero);
        return await buckets.TakeAsync(new KeyBucket(Kind, key, tokensPerMinute), need: 1, cost: 0);
    }

    public async ValueTask ChargeAsync(string key, long tokensPerMinute, long tokens)
    {
        if (tokensPerMinute <= 0 || tokens <= 0) return;
        await buckets.TakeAsync(new KeyBucket(Kind, key, tokensPerMinute), need: 0, cost: tokens);
    }
}
