using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Options;

namespace Embedding.Api.Batches;

/// <summary>
/// Runs batch jobs through their life (<see cref="BatchStatus"/>): validate the input file (<see cref="BatchInputValidator"/>),
/// run its lines (<see cref="BatchLineWindow"/>), publish the output and error files (<see cref="BatchJobFiles"/>). Every
/// API process runs one; they share the work through the store's leases (<see cref="IBatchStore.ClaimAsync"/>): a job is
/// run by the one runner holding its lease, which renews it while it runs. A process that dies stops renewing, and once
/// the lease runs out (<see cref="BatchOptions.LeaseSeconds"/>) another runner claims the job and resumes it from its last
/// checkpoint; one that stops cleanly frees its leases at once. A worker that dies mid-job only delays the lines it held
/// (RabbitMQ gives them to another worker). The runner also deletes expired files, about once a minute.
/// </summary>
public sealed class BatchRunner(IBatchStore store, BatchJobFiles files, BatchInputValidator validator, BatchLineWindow window, BatchMetrics metrics,
                                IOptions<EmbeddingApiOptions> options, ILogger<BatchRunner> logger) : BackgroundService
{
    private sealed record Run(BatchJob Job, CancellationTokenSource Cancel, CancellationTokenSource Pause);

    private readonly BatchOptions _options = options.Value.Batches;
    private readonly ConcurrentDictionary<string, Run> _running = new();
    private readonly SemaphoreSlim _wake = new(0);
    private long _nextSweep;

    /// <summary>This process's name in the store's leases: unique per start, so a restarted process never mistakes an old lease for its own.</summary>
    public string RunnerId { get; } = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";

    private TimeSpan Lease => TimeSpan.FromSeconds(_options.LeaseSeconds);

    /// <summary>Look for new work now (a batch was created) instead of at the next poll.</summary>
    public void Wake() => _wake.Release();

    /// <summary>Whether this process is running the job now (it stops once the job reaches a final state).</summary>
    public bool IsRunning(string id) => _running.ContainsKey(id);

    /// <summary>Stops a running job's lines; the job then finishes as "cancelled" with what it completed.</summary>
    public void Cancel(string id)
    {
        if (_running.TryGetValue(id, out var run)) Signal(run.Cancel);
        Wake();
    }

    private static void Signal(CancellationTokenSource source)
    {
        try { source.Cancel(); }
        catch (ObjectDisposedException) { }  // the run ended meanwhile
    }

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        var jobs = new Dictionary<string, Task>();
        var renewed = Stopwatch.StartNew();
        while (!stopping.IsCancellationRequested)
        {
            foreach (var finished in jobs.Where(j => j.Value.IsCompleted).Select(j => j.Key).ToList()) jobs.Remove(finished);
            try
            {
                if (renewed.Elapsed >= Lease / 3)
                {
                    await RenewAsync(stopping);
                    renewed.Restart();
                }
                await SweepAsync(stopping);
                // A cancel is cheap to finish, so it does not wait for a free slot.
                var free = _options.MaxActiveJobs - jobs.Count;
                var claimed = await store.ClaimAsync(RunnerId, [.. jobs.Keys], 64, cancelRequestedOnly: true, Lease, stopping);
                claimed.AddRange(await store.ClaimAsync(RunnerId, [.. jobs.Keys, .. claimed.Select(j => j.Id)], free, cancelRequestedOnly: false, Lease, stopping));
                foreach (var job in claimed) jobs[job.Id] = RunAsync(job, stopping);
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Could not read the batch job database; retrying");
            }
            var poll = Task.Delay(TimeSpan.FromSeconds(Math.Min(2, _options.LeaseSeconds / 3.0)), stopping);
            await Task.WhenAny([_wake.WaitAsync(stopping), poll, .. jobs.Values]).ConfigureAwait(false);
        }
        // Stopping: every job checkpoints what it finished and frees its lease, for another replica (or the next start) to resume.
        await Task.WhenAll(jobs.Values);
    }

    /// <summary>
    /// Extends the leases of the jobs running here; a job whose lease went to another runner is stopped without another
    /// write, and a cancel asked of any replica reaches the job's runner here even while no line completes.
    /// </summary>
    private async Task RenewAsync(CancellationToken ct)
    {
        var runs = _running.Values.ToList();
        if (runs.Count == 0) return;
        var held = await store.RenewAsync(RunnerId, [.. runs.Select(r => r.Job)], Lease, ct);
        foreach (var run in runs)
        {
            if (!held.TryGetValue(run.Job.Id, out var cancelRequested))
            {
                logger.LogWarning("Batch {Batch}: the lease passed to another runner; stopping here", run.Job.Id);
                Signal(run.Pause);
            }
            else if (cancelRequested) Signal(run.Cancel);
        }
    }

    /// <summary>Files past their expires_at go about once a minute.</summary>
    private async Task SweepAsync(CancellationToken ct)
    {
        var now = IBatchStore.Now();
        if (now < _nextSweep) return;
        _nextSweep = now + 60;
        if (await store.DeleteExpiredFilesAsync(now, ct) is var swept and > 0) logger.LogInformation("Deleted {Count} expired files", swept);
    }

    private async Task RunAsync(BatchJob job, CancellationToken stopping)
    {
        await Task.Yield();  // the claim loop goes on while this job starts
        // Pause: this process stops, or the lease is gone; the job stays open. Cancel: the owner's cancel (implies nothing about the lease).
        using var pause = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(pause.Token);
        _running[job.Id] = new Run(job, cancel, pause);
        metrics.JobRunning(job);
        try
        {
            // A cancel that arrived between the claim and registering the job here.
            if (BatchStatus.CanMove(job.Status, BatchStatus.Cancelling) && await store.CancelRequestedAsync(job.Id, pause.Token))
                job.MoveTo(BatchStatus.Cancelling, IBatchStore.Now());
            if (job.Status == BatchStatus.Validating) await ValidateAsync(job, pause.Token);
            var expired = job.Status == BatchStatus.InProgress && await window.RunAsync(job, cancel, pause.Token);
            if (pause.IsCancellationRequested) return;
            if (expired) await FinishAsync(job, BatchStatus.Expired, pause.Token);
            else if (job.Status == BatchStatus.Cancelling) await FinishAsync(job, BatchStatus.Cancelled, pause.Token);
            else if (job.Status == BatchStatus.Finalizing) await FinishAsync(job, BatchStatus.Completed, pause.Token);
        }
        catch (OperationCanceledException) when (pause.IsCancellationRequested)
        {
        }
        catch (BatchLeaseLostException ex)
        {
            logger.LogWarning("{Message}", ex.Message);
        }
        catch (Exception ex) when (store.IsUnavailable(ex))
        {
            // Nothing is lost: the job stays open at its last checkpoint, and this runner (or another, once the lease
            // runs out) takes it up again when the database answers.
            logger.LogWarning(ex, "Batch {Batch}: the job database is unreachable; the job pauses at its last checkpoint", job.Id);
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Batch {Batch} failed", job.Id);
            // Storage trouble (disk full, a deleted input file...): the job fails visibly rather than looping. One whose
            // final state could not be saved stays open in the store, and finishes again once claimed again.
            if (BatchStatus.CanMove(job.Status, BatchStatus.Failed))
            {
                job.Errors.Add(new BatchLineError("server_error", $"The job stopped on an internal error: {ex.Message}", null, null));
                job.MoveTo(BatchStatus.Failed, IBatchStore.Now());
                try { await store.SaveAsync(job, CancellationToken.None); }
                catch (Exception saveError) { logger.LogWarning(saveError, "Batch {Batch}: its failure could not be saved; it is taken up again", job.Id); }
            }
        }
        finally
        {
            _running.TryRemove(job.Id, out _);
            metrics.JobStopped(job);
            // A clean stop hands the job on at once instead of after the lease's expiry.
            if (stopping.IsCancellationRequested && BatchStatus.IsOpen(job.Status))
                try { await store.ReleaseAsync(job, CancellationToken.None); }
                catch (Exception ex) { logger.LogInformation(ex, "Batch {Batch}: its lease could not be freed; it passes on when it expires", job.Id); }
        }
    }

    /// <summary>The file's shape, before any model time is spent: in progress, or failed with what is wrong.</summary>
    private async Task ValidateAsync(BatchJob job, CancellationToken ct)
    {
        var (total, errors) = await validator.CheckAsync(job, ct);
        if (errors.Count > 0)
        {
            job.Errors = errors;
            job.MoveTo(BatchStatus.Failed, IBatchStore.Now());
        }
        else
        {
            job.Total = total;
            job.MoveTo(BatchStatus.InProgress, IBatchStore.Now());
        }
        await store.SaveAsync(job, ct);
        logger.LogInformation("Batch {Batch}: {Status} ({Total} requests, {Errors} errors)", job.Id, job.Status, total, errors.Count);
    }

    /// <summary>The committed output and errors become files of their own; the job reaches its final state.</summary>
    private async Task FinishAsync(BatchJob job, string final, CancellationToken ct)
    {
        await files.PublishAsync(job, ct);
        job.MoveTo(final, IBatchStore.Now());
        await store.SaveAsync(job, ct);
        metrics.JobFinished(final);
        logger.LogInformation("Batch {Batch}: {Status}, {Completed} completed, {Failed} failed of {Total}", job.Id, final, job.Completed, job.FailedCount, job.Total);
    }
}
