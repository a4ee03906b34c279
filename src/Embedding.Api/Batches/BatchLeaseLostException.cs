namespace Embedding.Api.Batches;

/// <summary>
/// A runner's lease on a job passed to another runner (this one's ran out: a long pause, a database outage longer than
/// the lease). The job is the other runner's now; this one stops it without writing anything more.
/// </summary>
public sealed class BatchLeaseLostException(string jobId, long lease)
    : Exception($"Batch {jobId}: lease {lease} is no longer this runner's; another runner resumes the job from its last checkpoint.");
