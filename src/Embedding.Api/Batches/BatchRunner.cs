using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Embedding.Api.Apis;
using Embedding.Api.Services;
using Embedding.Contracts;
using Microsoft.Extensions.Options;

namespace Embedding.Api.Batches;

/// <summary>
/// Runs batch jobs: validates the input file, sends each line through the same path as <c>/v1/embeddings</c> (cache,
/// then the tier's queue) at the queue's lower priority, and appends each answer to the output or error file in input
/// order. Progress and file lengths are checkpointed together, so a job resumes where it stopped after a restart of this
/// process, and a worker that dies mid-job only delays the lines it held (RabbitMQ gives them to another worker).
/// A line that finds no worker (a tier scaled to zero, a broker outage) is sent again until the job expires.
/// </summary>
public sealed class BatchRunner(BatchStore store, BatchJobFiles files, EmbeddingRequestParser parser, EmbeddingService service, ApiMetrics metrics, QueueObserver queues,
                                IOptions<EmbeddingApiOptions> options, ILogger<BatchRunner> logger) : BackgroundService
{
    private readonly BatchOptions _options = options.Value.Batches;
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _running = new();
    private readonly SemaphoreSlim _wake = new(0);

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
        var nextSweep = 0L;
        while (!stopping.IsCancellationRequested)
        {
            foreach (var finished in jobs.Where(j => j.Value.IsCompleted).Select(j => j.Key).ToList()) jobs.Remove(finished);
            try
            {
                // Files past their expires_at go about once a minute.
                if (BatchStore.Now() is var now && now >= nextSweep)
                {
                    nextSweep = now + 60;
                    if (await store.DeleteExpiredFilesAsync(now, stopping) is var swept and > 0)
                        logger.LogInformation("Deleted {Count} expired files", swept);
                }
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

    private async Task RunAsync(BatchJob job, CancellationToken stopping)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _running[job.Id] = cancel;
        metrics.BatchJobRunning(job);
        try
        {
            // A cancel that arrived between reading the job and registering it here.
            if (await store.CancelRequestedAsync(job.Id, stopping)) job.Status = BatchStatus.Cancelling;
            if (job.Status == BatchStatus.Validating) await ValidateAsync(job, stopping);
            var expired = job.Status == BatchStatus.InProgress && await ProcessAsync(job, cancel, stopping);
            if (expired) await FinishAsync(job, BatchStatus.Expired, stopping);
            else if (job.Status == BatchStatus.Cancelling) await FinishAsync(job, BatchStatus.Cancelled, stopping);
            else if (job.Status == BatchStatus.Finalizing) await FinishAsync(job, BatchStatus.Completed, stopping);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // Storage trouble (disk full, a deleted input file...): the job fails visibly rather than looping.
            logger.LogError(ex, "Batch {Batch} failed", job.Id);
            job.Errors.Add(new BatchLineError("server_error", $"The job stopped on an internal error: {ex.Message}", null, null));
            job.Status = BatchStatus.Failed;
            job.FailedAt = BatchStore.Now();
            await store.SaveAsync(job, CancellationToken.None);
        }
        finally
        {
            _running.TryRemove(job.Id, out _);
            metrics.BatchJobStopped(job);
        }
    }

    // ---- validation: the file's shape, before any model time is spent ----

    private async Task ValidateAsync(BatchJob job, CancellationToken ct)
    {
        var input = store.PathOf(job.InputFileId);
        var errors = new List<BatchLineError>();
        var total = 0;
        if (!File.Exists(input))
            errors.Add(new("invalid_file", $"The input file {job.InputFileId} no longer exists.", "input_file_id", null));
        else
        {
            var ids = new HashSet<string>(StringComparer.Ordinal);
            await foreach (var line in JsonlReader.ReadAsync(input, 0, 1, ct))
            {
                if (line.IsBlank) continue;
                total++;
                if (BatchLines.Check(line, job.Endpoint, ids) is { } error && errors.Count < 100) errors.Add(error);
            }
            if (total == 0) errors.Add(new("empty_file", "The input file has no requests.", "input_file_id", null));
            if (total > _options.MaxRequestsPerBatch)
                errors.Add(new("too_many_requests", $"The input file has {total} requests; a batch may have at most {_options.MaxRequestsPerBatch}.", "input_file_id", null));
        }
        if (errors.Count > 0)
        {
            job.Errors = errors;
            job.Status = BatchStatus.Failed;
            job.FailedAt = BatchStore.Now();
        }
        else
        {
            job.Total = total;
            job.Status = BatchStatus.InProgress;
            job.InProgressAt = BatchStore.Now();
        }
        await store.SaveAsync(job, ct);
        logger.LogInformation("Batch {Batch}: {Status} ({Total} requests, {Errors} errors)", job.Id, job.Status, total, errors.Count);
    }

    // ---- processing: lines in flight, answers committed in input order ----

    private sealed record LineOutcome(bool Succeeded, byte[] Json, string? Model);

    /// <summary>Runs the job's remaining lines; true where its completion window ran out (the rest went to the error file).</summary>
    private async Task<bool> ProcessAsync(BatchJob job, CancellationTokenSource cancel, CancellationToken stopping)
    {
        var expired = false;
        using var expiry = new CancellationTokenSource(TimeSpan.FromSeconds(Math.Max(0, job.ExpiresAt - BatchStore.Now())));
        using var lines = CancellationTokenSource.CreateLinkedTokenSource(cancel.Token, expiry.Token);
        await using var output = files.Open(job, "output", job.OutputBytes);
        await using var errors = files.Open(job, "errors", job.ErrorBytes);
        var window = new Queue<(Task<LineOutcome?> Outcome, long NextOffset)>();
        var checkpoint = Stopwatch.StartNew();
        string? model = null;  // the tier the job's lines went to last

        // Lines in flight: the configured number per worker of the tier. A job that woke more replicas (its lines count in
        // the queue's depth and publish rate) keeps them all busy and finishes sooner, instead of spreading 8 lines thin.
        int Width() => Math.Min(1024, _options.ConcurrentRequestsPerJob * Math.Max(1, model is null ? 1 : queues.ConsumersOf(model)));

        async Task CommitAsync(LineOutcome? outcome, long nextOffset)
        {
            job.InFlight = window.Count;
            if (outcome is not null)
            {
                model = outcome.Model ?? model;
                await (outcome.Succeeded ? output : errors).WriteAsync(outcome.Json, CancellationToken.None);
                if (outcome.Succeeded) job.Completed++; else job.FailedCount++;
                metrics.BatchRequest(outcome.Model, outcome.Succeeded);
            }
            job.InputOffset = nextOffset;
            if (checkpoint.ElapsedMilliseconds >= _options.CheckpointMilliseconds)
            {
                await files.CheckpointAsync(job, output, errors);
                checkpoint.Restart();
                // A cancel asked of another API process sharing this storage reaches this runner through the database.
                if (await store.CancelRequestedAsync(job.Id, CancellationToken.None)) await cancel.CancelAsync();
            }
        }

        try
        {
            await foreach (var line in JsonlReader.ReadAsync(store.PathOf(job.InputFileId), job.InputOffset, 0, lines.Token))
            {
                window.Enqueue((line.IsBlank ? Task.FromResult<LineOutcome?>(null) : RunLineAsync(job, line, lines.Token), line.NextOffset));
                job.InFlight = window.Count;
                while (window.Count >= Width() || (window.Count > 0 && window.Peek().Outcome.IsCompleted))
                {
                    var (next, offset) = window.Dequeue();
                    await CommitAsync(await next, offset);
                }
            }
            while (window.Count > 0)
            {
                var (next, offset) = window.Dequeue();
                await CommitAsync(await next, offset);
            }
            job.Status = BatchStatus.Finalizing;
            job.FinalizingAt = BatchStore.Now();
        }
        catch (OperationCanceledException) when (lines.IsCancellationRequested)
        {
            // Keep what finished before the stop, in order; the rest is redone on resume (or never, for cancel/expiry).
            while (window.Count > 0 && window.Peek().Outcome.IsCompletedSuccessfully)
            {
                var (next, offset) = window.Dequeue();
                await CommitAsync(next.Result, offset);
            }
            if (!stopping.IsCancellationRequested && cancel.IsCancellationRequested) job.Status = BatchStatus.Cancelling;
            else if (!stopping.IsCancellationRequested && expiry.IsCancellationRequested)
            {
                await FailRemainingAsync(job, errors);
                expired = true;
            }
        }
        job.InFlight = 0;
        await files.CheckpointAsync(job, output, errors);
        if (stopping.IsCancellationRequested) logger.LogInformation("Batch {Batch} paused at {Done}/{Total} for the restart", job.Id, job.Completed + job.FailedCount, job.Total);
        return expired;
    }

    /// <summary>One line through the same path as <c>/v1/embeddings</c>; null only if cancelled. Never throws otherwise.</summary>
    private async Task<LineOutcome?> RunLineAsync(BatchJob job, JsonlLine line, CancellationToken ct)
    {
        string customId;
        ReadOnlyMemory<byte> body;
        using (var doc = JsonDocument.Parse(line.Bytes))
        {
            customId = doc.RootElement.GetProperty("custom_id").GetString()!;
            body = Encoding.UTF8.GetBytes(doc.RootElement.GetProperty("body").GetRawText());
        }
        // Each line is a trace of its own (one per job would grow without bound), tagged with its job.
        Activity.Current = null;
        using var activity = ApiMetrics.ActivitySource.StartActivity("batch request");
        activity?.SetTag("embedding.batch.job", job.Id);
        activity?.SetTag("embedding.batch.custom_id", customId);
        var (request, error) = parser.Parse(body);
        if (request is not null && job.AllowedModels.Count > 0 && !job.AllowedModels.Any(request.Model.IsCalled))
            error = OpenAIError.ModelNotFound(request.RequestedModel);
        if (error is not null) return await ErrorLineAsync(job, customId, error, request?.Model.Name);

        for (var attempt = 0; ; attempt++)
        {
            var (result, failure) = await service.EmbedAsync(request!, ct, EmbedPriority.Batch);
            if (failure is null)
                return new LineOutcome(true, await BatchLines.OutputAsync(job, customId, (200, w => EmbeddingsApi.WriteEmbeddingsAsync(w, request!, result!))), request!.Model.Name);
            if (failure.Status != StatusCodes.Status503ServiceUnavailable) return await ErrorLineAsync(job, customId, failure, request!.Model.Name);
            // No worker answered (scaled to zero and starting, broker down): wait and send again, until cancel or expiry.
            logger.LogDebug("Batch {Batch} line {Line}: {Reason}; retrying", job.Id, line.Number, failure.Message);
            metrics.BatchRetry(request!.Model.Name);
            await Task.Delay(TimeSpan.FromSeconds(Math.Min(30, 1 << Math.Min(attempt, 5))), ct);
        }
    }

    private static async Task<LineOutcome> ErrorLineAsync(BatchJob job, string customId, OpenAIError error, string? model) =>
        new(false, await BatchLines.OutputAsync(job, customId, (error.Status, w => { error.WriteTo(w); return Task.CompletedTask; })), model);

    /// <summary>Expired: every line not done goes to the error file as batch_expired, as OpenAI reports it.</summary>
    private async Task FailRemainingAsync(BatchJob job, FileStream errors)
    {
        await foreach (var line in JsonlReader.ReadAsync(store.PathOf(job.InputFileId), job.InputOffset, 0))
        {
            if (!line.IsBlank)
            {
                using var doc = JsonDocument.Parse(line.Bytes);
                var customId = doc.RootElement.GetProperty("custom_id").GetString()!;
                await errors.WriteAsync(await BatchLines.OutputAsync(job, customId, response: null,
                    ("batch_expired", "This request could not be executed before the completion window expired.")));
                job.FailedCount++;
                metrics.BatchRequest(null, succeeded: false);
            }
            job.InputOffset = line.NextOffset;
        }
    }

    /// <summary>The committed output and errors become files of their own; the job reaches its final state.</summary>
    private async Task FinishAsync(BatchJob job, string final, CancellationToken ct)
    {
        await files.PublishAsync(job, ct);
        var now = BatchStore.Now();
        switch (final)
        {
            case BatchStatus.Completed: job.CompletedAt = now; break;
            case BatchStatus.Cancelled: job.CancelledAt = now; job.CancellingAt ??= now; break;
            case BatchStatus.Expired: job.ExpiredAt = now; break;
        }
        job.Status = final;
        await store.SaveAsync(job, ct);
        metrics.BatchJobFinished(final);
        logger.LogInformation("Batch {Batch}: {Status}, {Completed} completed, {Failed} failed of {Total}", job.Id, final, job.Completed, job.FailedCount, job.Total);
    }
}
