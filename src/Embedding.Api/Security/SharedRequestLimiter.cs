using System.Diagnostics;
using System.Threading.RateLimiting;

namespace Embedding.Api.Security;

/// <summary>
/// Requests per minute for one key, as an ASP.NET Core <see cref="RateLimiter"/> over <see cref="KeyBuckets"/>
/// (so counted across replicas where there is Redis). The check needs a Redis round trip, so the synchronous
/// attempt always defers: the rate limiting middleware then awaits <see cref="AcquireAsyncCore"/>, which decides.
/// A refusal carries <see cref="MetadataName.RetryAfter"/> for the 429.
/// </summary>
public sealed class SharedRequestLimiter(KeyBuckets buckets, string key, int requestsPerMinute) : RateLimiter
{
    public const string Kind = "requests";

    private static readonly RateLimitLease Deferred = new Lease(false, null);
    private static readonly RateLimitLease Granted = new Lease(true, null);
    private long _lastUsed = Stopwatch.GetTimestamp();

    public override TimeSpan? IdleDuration => Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastUsed));

    public override RateLimiterStatistics? GetStatistics() => null;

    protected override RateLimitLease AttemptAcquireCore(int permitCount) => permitCount == 0 ? Granted : Deferred;

    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
    {
        Interlocked.Exchange(ref _lastUsed, Stopwatch.GetTimestamp());
        if (permitCount == 0) return Granted;
        var (allowed, retryAfter) = await buckets.TakeAsync(new KeyBucket(Kind, key, requestsPerMinute), need: permitCount, cost: permitCount);
        return allowed ? Granted : new Lease(false, retryAfter);
    }

    private sealed class Lease(bool acquired, TimeSpan? retryAfter) : RateLimitLease
    {
        public override bool IsAcquired => acquired;

        public override IEnumerable<string> MetadataNames => retryAfter is null ? [] : [MetadataName.RetryAfter.Name];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = metadataName == MetadataName.RetryAfter.Name ? retryAfter : null;
            return metadata is not null;
        }
    }
}
