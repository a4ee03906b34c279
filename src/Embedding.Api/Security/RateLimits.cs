using System.Threading.RateLimiting;
using Embedding.Api.Wire;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace Embedding.Api.Security;

/// <summary>
/// ASP.NET Core rate limiting, two layers: a process-wide cap on requests in flight (beyond it the API sheds load with
/// 503 + Retry-After instead of queueing in memory; it protects this process, so it is counted here), and requests per
/// minute per API key (429 + Retry-After; counted across replicas, <see cref="SharedRequestLimiter"/>).
/// Tokens per minute are <see cref="TokenQuotas"/>, charged from real usage.
/// </summary>
public static class RateLimits
{
    public const string PerKey = "per-key";

    public static IServiceCollection AddEmbeddingRateLimits(this IServiceCollection services) => services.AddRateLimiter(limiter =>
    {
        limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http =>
        {
            // Health probes must answer even under overload, or the orchestrator would restart a busy, healthy API.
            if (http.Request.Path.StartsWithSegments("/health") || http.Request.Path.StartsWithSegments("/alive"))
                return RateLimitPartition.GetNoLimiter("probes");
            var max = http.RequestServices.GetRequiredService<IOptions<EmbeddingApiOptions>>().Value.MaxConcurrentRequests;
            return RateLimitPartition.GetConcurrencyLimiter("in-flight", _ => new ConcurrencyLimiterOptions { PermitLimit = max, QueueLimit = 0 });
        });

        limiter.AddPolicy(PerKey, http =>
        {
            var key = http.User.KeyName();
            var rpm = http.RequestServices.GetRequiredService<IOptions<EmbeddingApiOptions>>().Value.Auth.LimitsFor(key).RequestsPerMinute;
            if (rpm <= 0) return RateLimitPartition.GetNoLimiter(key);
            // A bucket of one minute's requests, refilled continuously: bursts up to the limit, the limit on average,
            // counted across replicas (KeyBuckets).
            var buckets = http.RequestServices.GetRequiredService<KeyBuckets>();
            return RateLimitPartition.Get(key, k => new SharedRequestLimiter(buckets, k, rpm));
        });

        limiter.OnRejected = async (context, _) =>
        {
            var http = context.HttpContext;
            var options = http.RequestServices.GetRequiredService<IOptions<EmbeddingApiOptions>>().Value;
            // Only the per-key bucket knows when it refills; the in-flight cap frees up as requests finish.
            var error = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter)
                ? OpenAIError.RateLimited($"Rate limit reached for requests: key '{http.User.KeyName()}' may send {options.Auth.LimitsFor(http.User.KeyName()).RequestsPerMinute} requests per minute.",
                              "requests", (int)Math.Ceiling(retryAfter.TotalSeconds))
                : OpenAIError.Unavailable($"The service is at its limit of {options.MaxConcurrentRequests} requests in flight; retry shortly.", options.RetryAfterSeconds);
            await error.WriteAsync(http.Response);
        };
    });
}
