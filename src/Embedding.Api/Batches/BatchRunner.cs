using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Embedding.Api.Batches;

/// <summary>
/// Runs batch jobs through their life (<see cref="BatchStatus"/>): validate the input file (<see cref="BatchInputValidator"/>),
/// run its lines (<see cref="BatchLineWindow"/>), publish the output and error files (<see cref="BatchJobFiles"/>). Jobs
/// resume where they stopped after a restart of this process, and a worker that dies mid-job only delays the lines it
/// held (RabbitMQ gives them to another worker). It also deletes expired files, about once a minute.
/// </summary>
public sealed class BatchRunner(BatchStore store, BatchJobFiles files, BatchInputValidator validator, BatchLineWindow window, BatchMetrics metrics,
                                IOptions<EmbeddingApiOptions> options, ILogger<BatchRunner> logger) : BackgroundService
{
    private readonly BatchOptions _options = options.Value.Batches;
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _running = new();
    private readonly SemaphoreSlim _wake = new(0);
    private long _nextSweep;

    /// <summary>Look for new work now (a batch was created) instead of at the next poll.</summary>
    public void Wake() => _wake.Release();

    /// <summary>Whether this process runs the jobs of its storage directory (it holds the runner lock until it exits).</summary>
    public bool HoldsRunnerLock { get; private set; }

    /// <summary>Whether this process is running the job now (it stops once the job reaches a final state).</summary>
    public bool IsRunning(string id) => _running.ContainsKey(id);

    /// <summary>Stops a running job's lines; the job then finishes as "cancelled" with what it completed.</summary>
    public void Cancel(string id)
    {
        if (_running.TryGetValue(id, out var cancel)) cancel.Cancel();
        Wake();
    }

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        // Only the process holding the storage directory's lock runs jobs (RunnerLock); the others serve the endpoints.
        await using var runnerLock = await RunnerLock.AcquireAsync(store, logger, stopping);
        if (runnerLock is null) return;
        HoldsRunnerLock = true;
        var jobs = new Dictionary<string, Task>();
        while (!stopping.IsCancellationRequested)
        {
            foreach (var finished in jobs.Where(j => j.Value.IsCompleted).Select(j => j.Key).ToList()) jobs.Remove(finished);
            try
            {
                await SweepAsync(stopping);
                foreach (var job in await store.OpenBatchesAsync(stopping))
                {
                    // A cancel is cheap to finish, so it does not wait for a free slot.
                    if (jobs.ContainsKey(job.Id) || (jobs.Count >= _options.MaxActiveJobs && job.Status != BatchStatus.Cancelling)) continue;
                    jobs[job.Id] = RunAsync(job, stopping);
                }
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Could not read the batch job database; retrying");
            }
            var poll = Task.Delay(TimeSpan.FromSeconds(2), stopping);
            await Task.WhenAny([_wake.WaitAsync(stopping), poll, .. jobs.Values]).ConfigureAwait(false);
        }
        // Stopping: every job checkpoints what it finished and stays open, to resume on the next start.
        await Task.WhenAll(jobs.Values);
    }

    /// <summary>Files past their expires_at go about once a minute.</summary>
    private async Task SweepAsync(CancellationToken ct)
    {
        var now = BatchStore.Now();
        if (now < _nextSweep) return;
        _nextSweep = now + 60;
        if (await store.DeleteExpiredFilesAsync(now, ct) is var swept and > 0) logger.LogInformation("Deleted {Count} expired files", swept);
    }

    private async Task RunAsync(BatchJob job, CancellationToken stopping)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _running[job.Id] = cancel;
        metrics.JobRunning(job);
        try
        {
            // A cancel that arrived between reading the job and registering it here.
            if (BatchStatus.CanMove(job.Status, BatchStatus.Cancelling) && await store.CancelRequestedAsync(job.Id, stopping))
                job.MoveTo(BatchStatus.Cancelling, BatchStore.Now());
            if (job.Status == BatchStatus.Validating) await ValidateAsync(job, stopping);
            var expired = job.Status == BatchStatus.InProgress && await window.RunAsync(job, cancel, stopping);
            if (expired) await FinishAsync(job, BatchStatus.Expired, stopping);
            else if (job.Status == BatchStatus.Cancelling) await FinishAsync(job, BatchStatus.Cancelled, stopping);
            else if (job.Status == BatchStatus.Finalizing) await FinishAsync(job, BatchStatus.Completed, stopping);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Batch {Batch} failed", job.Id);
            // Storage trouble (disk full, a deleted input file...): the job fails visibly rather than looping. One whose
            // final state could not be saved stays open in the store, and finishes again at the next poll.
            if (BatchStatus.CanMove(job.Status, BatchStatus.Failed))
            {
                job.Errors.Add(new BatchLineError("server_error", $"The job stopped on an internal error: {ex.Message}", null, null));
                job.MoveTo(BatchStatus.Failed, BatchStore.Now());
                await store.SaveAsync(job, CancellationToken.None);
            }
        }
        finally
        {
            _running.TryRemove(job.Id, out _);
            metrics.JobStopped(job);
        }
    }

    /// <summary>The file's shape, before any model time is spent: in progress, or failed with what is wrong.</summary>
    private async Task ValidateAsync(BatchJob job, CancellationToken ct)
    {
        var (total, errors) = await validator.CheckAsync(job, ct);
        if (errors.Count > 0)
        {
            job.Errors = errors;
            job.MoveTo(BatchStatus.Failed, BatchStore.Now());
        }
        else
        {
            job.Total = total;
            job.MoveTo(BatchStatus.InProgress, BatchStore.Now());
        }
        await store.SaveAsync(job, ct);
        logger.LogInformation("Batch {Batch}: {Status} ({Total} requests, {Errors} errors)", job.Id, job.Status, total, errors.Count);
    }

    /// <summary>The committed output and errors become files of their own; the job reaches its final state.</summary>
    private async Task FinishAsync(BatchJob job, string final, CancellationToken ct)
    {
        await files.PublishAsync(job, ct);
        job.MoveTo(final, BatchStore.Now());
        await store.SaveAsync(job, ct);
        metrics.JobFinished(final);
        logger.LogInformation("Batch {Batch}: {Status}, {Completed} completed, {Failed} failed of {Total}", job.Id, final, job.Completed, job.FailedCount, job.Total);
    }
}
