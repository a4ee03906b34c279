using System.Diagnostics;
using System.Text.Json;
using Embedding.Api.Services;
using Microsoft.Extensions.Options;

namespace Embedding.Api.Batches;

/// <summary>
/// A running job's lines in flight: each goes to <see cref="BatchLineRunner"/> as soon as the window has room, and the
/// answers are committed to the output or error file in input order. Progress and file lengths are checkpointed
/// together, so a job stopped by a restart, or taken over by another replica, resumes at its last checkpoint; lines
/// past it are simply run again, and their first answers, never committed, are dropped.
/// </summary>
public sealed class BatchLineWindow(IBatchStore store, BatchJobFiles files, BatchLineRunner lines, BatchMetrics metrics, QueueObserver queues,
                                    IOptions<EmbeddingApiOptions> options, ILogger<BatchLineWindow> logger)
{
    private readonly BatchOptions _options = options.Value.Batches;

    /// <summary>
    /// Runs the job's remaining lines, then moves it to finalizing (all answered) or cancelling (cancelled meanwhile).
    /// True where its completion window ran out instead (the rest went to the error file); the runner then ends it as expired.
    /// <paramref name="stopping"/> pauses the job where it is (this process stopping, or its lease gone): it stays open.
    /// </summary>
    public async Task<bool> RunAsync(BatchJob job, CancellationTokenSource cancel, CancellationToken stopping)
    {
        var expired = false;
        using var expiry = new CancellationTokenSource(TimeSpan.FromSeconds(Math.Max(0, job.ExpiresAt - IBatchStore.Now())));
        using var running = CancellationTokenSource.CreateLinkedTokenSource(cancel.Token, expiry.Token);
        await files.TakeOverAsync(job, stopping);
        await using var output = files.Open(job, "output", job.OutputBytes);
        await using var errors = files.Open(job, "errors", job.ErrorBytes);
        var window = new Queue<(Task<BatchLineOutcome?> Outcome, long NextOffset)>();
        var checkpoint = Stopwatch.StartNew();
        string? model = null;  // the tier the job's lines went to last

        // Lines in flight: the configured number per worker of the tier. A job that woke more replicas (its lines count in
        // the queue's depth and publish rate) keeps them all busy and finishes sooner, instead of spreading 8 lines thin.
        int Width() => Math.Min(1024, _options.ConcurrentRequestsPerJob * Math.Max(1, model is null ? 1 : queues.ConsumersOf(model)));

        async Task CommitAsync(BatchLineOutcome? outcome, long nextOffset)
        {
            job.InFlight = window.Count;
            if (outcome is not null)
            {
                model = outcome.Model ?? model;
                await (outcome.Succeeded ? output : errors).WriteAsync(outcome.Json, CancellationToken.None);
                if (outcome.Succeeded) job.Completed++; else job.FailedCount++;
                metrics.LineAnswered(outcome.Model, outcome.Succeeded);
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
            await foreach (var line in JsonlReader.ReadAsync(store.PathOf(job.InputFileId), job.InputOffset, 0, running.Token))
            {
                window.Enqueue((line.IsBlank ? Task.FromResult<BatchLineOutcome?>(null) : lines.RunAsync(job, line, running.Token), line.NextOffset));
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
            job.MoveTo(BatchStatus.Finalizing, IBatchStore.Now());
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !running.IsCancellationRequested)
        {
            // A checkpoint that could not be written (the database unreachable...): the lines in flight are let go.
            await running.CancelAsync();
            throw;
        }
        catch (OperationCanceledException) when (running.IsCancellationRequested)
        {
            // Keep what finished before the stop, in order; the rest is redone on resume (or never, for cancel/expiry).
            while (window.Count > 0 && window.Peek().Outcome.IsCompletedSuccessfully)
            {
                var (next, offset) = window.Dequeue();
                await CommitAsync(next.Result, offset);
            }
            if (!stopping.IsCancellationRequested && cancel.IsCancellationRequested) job.MoveTo(BatchStatus.Cancelling, IBatchStore.Now());
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

    /// <summary>Expired: every line not done goes to the error file as batch_expired, as OpenAI reports it.</summary>
    private async Task FailRemainingAsync(BatchJob job, FileStream errors)
    {
        await foreach (var line in JsonlReader.ReadAsync(store.PathOf(job.InputFileId), job.InputOffset, 0))
        {
            if (!line.IsBlank)
            {
                using var doc = JsonDocument.Parse(line.Bytes);
                await errors.WriteAsync(await BatchLines.OutputAsync(job, BatchLines.CustomIdOf(doc), response: null,
                    ("batch_expired", "This request could not be executed before the completion window expired.")));
                job.FailedCount++;
                metrics.LineAnswered(null, succeeded: false);
            }
            job.InputOffset = line.NextOffset;
        }
    }
}
