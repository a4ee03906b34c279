using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Embedding.Api.Services;
using Embedding.Api.Wire;
using Embedding.Contracts;

namespace Embedding.Api.Batches;

/// <summary>
/// One line of a batch job through the same path as <c>/v1/embeddings</c> (parser, model permissions, cache, the tier's
/// queue at the lower priority). A line that finds no worker (a tier scaled to zero and starting, a broker outage) is
/// sent again, with a growing pause, until the job is cancelled or expires.
/// </summary>
public sealed class BatchLineRunner(EmbeddingRequestParser parser, EmbeddingService service, BatchMetrics metrics, ILogger<BatchLineRunner> logger)
{
    /// <summary>The line's outcome; null only if cancelled. Never throws otherwise.</summary>
    public async Task<BatchLineOutcome?> RunAsync(BatchJob job, JsonlLine line, CancellationToken ct)
    {
        string customId;
        ReadOnlyMemory<byte> body;
        using (var doc = JsonDocument.Parse(line.Bytes))
        {
            customId = BatchLines.CustomIdOf(doc);
            body = Encoding.UTF8.GetBytes(doc.RootElement.GetProperty("body").GetRawText());
        }
        // Each line is a trace of its own (one per job would grow without bound), tagged with its job.
        Activity.Current = null;
        using var activity = ApiMetrics.ActivitySource.StartActivity("batch request");
        activity?.SetTag("embedding.batch_job.id", job.Id);
        activity?.SetTag("embedding.batch_job.custom_id", customId);
        var (request, error) = parser.Parse(body);
        if (request is not null && job.AllowedModels.Count > 0 && !job.AllowedModels.Any(request.Model.IsCalled))
            error = OpenAIError.ModelNotFound(request.RequestedModel);
        if (error is not null) return await ErrorAsync(job, customId, error, request?.Model.Name);

        for (var attempt = 0; ; attempt++)
        {
            var (result, failure) = await service.EmbedAsync(request!, ct, EmbedPriority.Batch);
            if (failure is null)
                return new BatchLineOutcome(true, await BatchLines.OutputAsync(job, customId, (200, w => EmbeddingsResponse.WriteAsync(w, request!, result!))), request!.Model.Name);
            if (failure.Status != StatusCodes.Status503ServiceUnavailable) return await ErrorAsync(job, customId, failure, request!.Model.Name);
            // No worker answered: wait and send again, until cancel or expiry.
            logger.LogDebug("Batch {Batch} line {Line}: {Reason}; retrying", job.Id, line.Number, failure.Message);
            metrics.Retry(request!.Model.Name);
            await Task.Delay(TimeSpan.FromSeconds(Math.Min(30, 1 << Math.Min(attempt, 5))), ct);
        }
    }

    private static async Task<BatchLineOutcome> ErrorAsync(BatchJob job, string customId, OpenAIError error, string? model) =>
        new(false, await BatchLines.OutputAsync(job, customId, (error.Status, w => { error.WriteTo(w); return Task.CompletedTask; })), model);
}
