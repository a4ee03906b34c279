using System.Text.Json;
using System.Text.Json.Serialization;

namespace Embedding.Api.Batches;

/// <summary>
/// A batch job as stored: OpenAI's batch object, plus where the runner is in the input file (the byte offset of the
/// next unprocessed line) and how much of the output and error files is committed. Progress and those offsets are
/// written together, so after a crash the job resumes at the offset and the files are cut back to what was committed.
/// </summary>
public sealed class BatchJob
{
    public required string Id { get; init; }
    public required string Owner { get; init; }
    public required string Endpoint { get; init; }
    public required string InputFileId { get; init; }
    public required string CompletionWindow { get; init; }
    /// <summary>Where the job is in its life (<see cref="BatchStatus"/>); changed only by <see cref="MoveTo"/>.</summary>
    [JsonInclude] public string Status { get; private set; } = BatchStatus.Validating;
    public required long CreatedAt { get; init; }
    public required long ExpiresAt { get; init; }
    [JsonInclude] public long? InProgressAt { get; private set; }
    [JsonInclude] public long? FinalizingAt { get; private set; }
    [JsonInclude] public long? CompletedAt { get; private set; }
    [JsonInclude] public long? FailedAt { get; private set; }
    [JsonInclude] public long? ExpiredAt { get; private set; }
    [JsonInclude] public long? CancellingAt { get; private set; }
    [JsonInclude] public long? CancelledAt { get; private set; }
    public int Total { get; set; }
    public int Completed { get; set; }
    public int FailedCount { get; set; }
    public long InputOffset { get; set; }
    public long OutputBytes { get; set; }
    public long ErrorBytes { get; set; }

    /// <summary>
    /// The lease whose work files hold the committed output and errors (<see cref="BatchJobFiles"/>): each lease writes
    /// files of its own, so a runner that lost its lease cannot touch what the next one writes.
    /// </summary>
    public long WorkSegment { get; set; }
    public string? OutputFileId { get; set; }
    public string? ErrorFileId { get; set; }
    public List<BatchLineError> Errors { get; set; } = [];
    public Dictionary<string, string>? Metadata { get; init; }

    /// <summary><c>output_expires_after.seconds</c>: the output and error files expire this long after they are written; null = kept until deleted.</summary>
    public int? OutputExpiresAfterSeconds { get; init; }

    /// <summary>Models the creating key could use (empty: all), checked for every line as for a direct request.</summary>
    public List<string> AllowedModels { get; init; } = [];

    /// <summary>Lines on their way to the workers now (the runner's window), for the in-flight gauge.</summary>
    [JsonIgnore] public int InFlight { get; set; }

    /// <summary>The number of the lease this runner holds on the job (<see cref="IBatchStore.ClaimAsync"/>); its saves are fenced by it.</summary>
    [JsonIgnore] public long Lease { get; set; }

    /// <summary>A previous lease's work files, deleted once a checkpoint names this lease's instead.</summary>
    [JsonIgnore] public long? StaleSegment { get; set; }

    [JsonIgnore] public int Remaining => Math.Max(0, Total - Completed - FailedCount);

    /// <summary>
    /// Moves the job to <paramref name="status"/> at <paramref name="at"/> (Unix seconds) and stamps that status's time,
    /// as OpenAI's batch object shows it. A move <see cref="BatchStatus"/> does not allow throws.
    /// </summary>
    public void MoveTo(string status, long at)
    {
        if (!BatchStatus.CanMove(Status, status))
            throw new InvalidOperationException($"Batch {Id} cannot move from {Status} to {status}.");
        switch (status)
        {
            case BatchStatus.InProgress: InProgressAt = at; break;
            case BatchStatus.Finalizing: FinalizingAt = at; break;
            case BatchStatus.Completed: CompletedAt = at; break;
            case BatchStatus.Failed: FailedAt = at; break;
            case BatchStatus.Expired: ExpiredAt = at; break;
            // A cancel asked of the store keeps the time it was asked; cancelled says when it took effect.
            case BatchStatus.Cancelling: CancellingAt ??= at; break;
            case BatchStatus.Cancelled: CancelledAt = at; CancellingAt ??= at; break;
        }
        Status = status;
    }

    private static readonly JsonSerializerOptions StoreJson = new(JsonSerializerDefaults.Web);

    /// <summary>The job as a store keeps it: its document, when a cancel was asked (Unix seconds), its lease number.</summary>
    public static BatchJob FromStore(string json, long? cancelRequestedAt, long lease)
    {
        var job = JsonSerializer.Deserialize<BatchJob>(json, StoreJson)!;
        job.Lease = lease;
        if (cancelRequestedAt is { } at && BatchStatus.CanMove(job.Status, BatchStatus.Cancelling)) job.MoveTo(BatchStatus.Cancelling, at);
        return job;
    }

    public string ToStoreJson() => JsonSerializer.Serialize(this, StoreJson);

    public void WriteTo(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("id", Id);
        w.WriteString("object", "batch");
        w.WriteString("endpoint", Endpoint);
        if (Errors.Count == 0) w.WriteNull("errors");
        else
        {
            w.WriteStartObject("errors");
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            foreach (var e in Errors)
            {
                w.WriteStartObject();
                w.WriteString("code", e.Code);
                w.WriteString("message", e.Message);
                if (e.Param is null) w.WriteNull("param"); else w.WriteString("param", e.Param);
                if (e.Line is null) w.WriteNull("line"); else w.WriteNumber("line", e.Line.Value);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteString("input_file_id", InputFileId);
        w.WriteString("completion_window", CompletionWindow);
        w.WriteString("status", Status);
        WriteNullable(w, "output_file_id", OutputFileId);
        WriteNullable(w, "error_file_id", ErrorFileId);
        w.WriteNumber("created_at", CreatedAt);
        WriteNullable(w, "in_progress_at", InProgressAt);
        w.WriteNumber("expires_at", ExpiresAt);
        WriteNullable(w, "finalizing_at", FinalizingAt);
        WriteNullable(w, "completed_at", CompletedAt);
        WriteNullable(w, "failed_at", FailedAt);
        WriteNullable(w, "expired_at", ExpiredAt);
        WriteNullable(w, "cancelling_at", CancellingAt);
        WriteNullable(w, "cancelled_at", CancelledAt);
        w.WriteStartObject("request_counts");
        w.WriteNumber("total", Total);
        w.WriteNumber("completed", Completed);
        w.WriteNumber("failed", FailedCount);
        w.WriteEndObject();
        if (Metadata is null) w.WriteNull("metadata");
        else
        {
            w.WriteStartObject("metadata");
            foreach (var (k, v) in Metadata) w.WriteString(k, v);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    private static void WriteNullable(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null) w.WriteNull(name); else w.WriteString(name, value);
    }

    private static void WriteNullable(Utf8JsonWriter w, string name, long? value)
    {
        if (value is null) w.WriteNull(name); else w.WriteNumber(name, value.Value);
    }
}
