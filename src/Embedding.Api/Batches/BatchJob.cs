using System.Text.Json;

namespace Embedding.Api.Batches;

/// <summary>The states of an OpenAI batch, with their wire names.</summary>
public static class BatchStatus
{
    public const string Validating = "validating";
    public const string Failed = "failed";
    public const string InProgress = "in_progress";
    public const string Finalizing = "finalizing";
    public const string Completed = "completed";
    public const string Expired = "expired";
    public const string Cancelling = "cancelling";
    public const string Cancelled = "cancelled";

    /// <summary>States the runner still has work in.</summary>
    public static readonly string[] Open = [Validating, InProgress, Finalizing, Cancelling];

    public static bool IsOpen(string status) => Open.Contains(status);
}

/// <summary>An uploaded or produced file; its bytes live in the store's directory under <see cref="Id"/>.</summary>
public sealed record StoredFile(string Id, string Owner, string Purpose, string Filename, long Bytes, long CreatedAt, long? ExpiresAt = null)
{
    /// <summary>OpenAI's bounds for <c>expires_after.seconds</c>: one hour to thirty days.</summary>
    public const int MinExpirySeconds = 3600, MaxExpirySeconds = 30 * 24 * 3600;

    public void WriteTo(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("id", Id);
        w.WriteString("object", "file");
        w.WriteNumber("bytes", Bytes);
        w.WriteNumber("created_at", CreatedAt);
        if (ExpiresAt is { } expires) w.WriteNumber("expires_at", expires); else w.WriteNull("expires_at");
        w.WriteString("filename", Filename);
        w.WriteString("purpose", Purpose);
        w.WriteString("status", "processed");
        w.WriteNull("status_details");
        w.WriteEndObject();
    }
}

/// <summary>One line of a batch that could not be run, found while validating the input file.</summary>
public sealed record BatchLineError(string Code, string Message, string? Param, int? Line);

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
    public string Status { get; set; } = BatchStatus.Validating;
    public required long CreatedAt { get; init; }
    public required long ExpiresAt { get; init; }
    public long? InProgressAt { get; set; }
    public long? FinalizingAt { get; set; }
    public long? CompletedAt { get; set; }
    public long? FailedAt { get; set; }
    public long? ExpiredAt { get; set; }
    public long? CancellingAt { get; set; }
    public long? CancelledAt { get; set; }
    public int Total { get; set; }
    public int Completed { get; set; }
    public int FailedCount { get; set; }
    public long InputOffset { get; set; }
    public long OutputBytes { get; set; }
    public long ErrorBytes { get; set; }
    public string? OutputFileId { get; set; }
    public string? ErrorFileId { get; set; }
    public List<BatchLineError> Errors { get; set; } = [];
    public Dictionary<string, string>? Metadata { get; init; }

    /// <summary><c>output_expires_after.seconds</c>: the output and error files expire this long after they are written; null = kept until deleted.</summary>
    public int? OutputExpiresAfterSeconds { get; init; }

    /// <summary>Models the creating key could use (empty: all), checked for every line as for a direct request.</summary>
    public List<string> AllowedModels { get; init; } = [];

    /// <summary>Lines on their way to the workers now (the runner's window), for the in-flight gauge.</summary>
    [System.Text.Json.Serialization.JsonIgnore] public int InFlight { get; set; }

    [System.Text.Json.Serialization.JsonIgnore] public int Remaining => Math.Max(0, Total - Completed - FailedCount);

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
