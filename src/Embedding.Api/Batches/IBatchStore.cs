namespace Embedding.Api.Batches;

/// <summary>
/// Durable state of files and batch jobs, shared by every API process that points at the same store. Two
/// implementations: <see cref="SqliteBatchStore"/> (one database file beside the job files, for a single machine) and
/// <see cref="PostgresBatchStore"/> (for any number of replicas). File bytes live in <see cref="BatchStorageDirectory"/>
/// either way, which replicas must share.
/// <para>
/// Jobs are run under leases: <see cref="ClaimAsync"/> hands an open job whose lease is free or expired to one runner
/// and numbers that lease (<see cref="BatchJob.Lease"/>); <see cref="SaveAsync"/> writes only while the job's lease is
/// still that number, so a runner whose lease passed to another can never overwrite the newer holder's progress.
/// </para>
/// </summary>
public interface IBatchStore
{
    BatchStorageDirectory Directory { get; }

    string PathOf(string fileId) => Directory.PathOf(fileId);

    /// <summary>Whether <paramref name="exception"/> says the database is out of reach for now (a restart, a failover), not that a request was wrong.</summary>
    bool IsUnavailable(Exception exception);

    // ---- files ----

    /// <summary>
    /// Keeps a file whose bytes were written to <paramref name="tempPath"/> (moved into the store). Given an id, it can be
    /// repeated after a crash: a file already kept under that id stays as it is.
    /// </summary>
    Task<StoredFile> AddFileAsync(string owner, string purpose, string filename, string tempPath, CancellationToken ct, string? id = null, int? expiresAfterSeconds = null);

    /// <summary>A temporary path inside the store (same file system, so keeping the file is a rename).</summary>
    Task<string> NewTempPathAsync(CancellationToken ct);

    Task<StoredFile?> GetFileAsync(string id, string owner, CancellationToken ct);

    /// <summary>The owner's files, newest first, after the file <paramref name="after"/> when given.</summary>
    Task<List<StoredFile>> ListFilesAsync(string owner, string? purpose, string? after, int limit, CancellationToken ct);

    Task<bool> DeleteFileAsync(string id, string owner, CancellationToken ct);

    /// <summary>Deletes files whose <c>expires_at</c> has come, except the input file of an open job. Returns how many went.</summary>
    Task<int> DeleteExpiredFilesAsync(long now, CancellationToken ct);

    // ---- batches ----

    Task CreateBatchAsync(BatchJob job, CancellationToken ct);

    /// <summary>
    /// The runner's checkpoint: the whole job document (status, counts, offsets) in one write, made only while the job's
    /// lease is still <see cref="BatchJob.Lease"/>; otherwise <see cref="BatchLeaseLostException"/>.
    /// </summary>
    Task SaveAsync(BatchJob job, CancellationToken ct);

    /// <summary>A job as its owner sees it (any owner when null): a cancel asked for but not yet acted on shows as "cancelling".</summary>
    Task<BatchJob?> GetBatchAsync(string id, string? owner, CancellationToken ct);

    /// <summary>The owner's jobs, newest first, after the job <paramref name="after"/> when given.</summary>
    Task<List<BatchJob>> ListBatchesAsync(string owner, string? after, int limit, CancellationToken ct);

    /// <summary>
    /// Takes up to <paramref name="limit"/> open jobs, oldest first (only those with a cancel asked for, when
    /// <paramref name="cancelRequestedOnly"/>), whose lease is free, expired, or held by this runner for a job it is not
    /// running (<paramref name="running"/>): each leased to <paramref name="runner"/> for <paramref name="lease"/>, under a
    /// new lease number. Concurrent claims never hand out the same job.
    /// </summary>
    Task<List<BatchJob>> ClaimAsync(string runner, IReadOnlyCollection<string> running, int limit, bool cancelRequestedOnly, TimeSpan lease, CancellationToken ct);

    /// <summary>
    /// Extends this runner's leases on <paramref name="jobs"/>; says, for each it still holds, whether a cancel was asked.
    /// A job missing from the answer was claimed by another runner after this one's lease ran out.
    /// </summary>
    Task<Dictionary<string, bool>> RenewAsync(string runner, IReadOnlyCollection<BatchJob> jobs, TimeSpan lease, CancellationToken ct);

    /// <summary>Frees the job's lease (a runner stopping), so another runner takes it up without waiting for the expiry.</summary>
    Task ReleaseAsync(BatchJob job, CancellationToken ct);

    /// <summary>Marks an open job of this owner for cancelling; its runner does the rest.</summary>
    Task RequestCancelAsync(string id, string owner, CancellationToken ct);

    /// <summary>Whether a cancel was asked for this job (by any API process sharing the store).</summary>
    Task<bool> CancelRequestedAsync(string id, CancellationToken ct);

    /// <summary>Unix seconds: the clock of job and file timestamps.</summary>
    static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
}
