namespace Embedding.Api.Batches;

/// <summary>
/// A batch job's life, as OpenAI's Batch API defines it: the statuses (with their wire names) and the only moves between
/// them. A job is validated, then runs its lines, then publishes its files; a cancel is taken at any point before the
/// end, and a job whose storage fails stops as failed rather than looping. <see cref="BatchJob.MoveTo"/> refuses any
/// other move.
/// </summary>
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

    /// <summary>Each open status and where it may go; a status with no entry is final.</summary>
    private static readonly Dictionary<string, string[]> Moves = new(StringComparer.Ordinal)
    {
        // The input file failed validation, or is fit to run.
        [Validating] = [InProgress, Failed, Cancelling],
        // Every line answered; or the completion window ran out (the rest go to the error file).
        [InProgress] = [Finalizing, Expired, Cancelling, Failed],
        // The output and error files are being published.
        [Finalizing] = [Completed, Cancelling, Failed],
        // What finished is published as the job's files.
        [Cancelling] = [Cancelled, Failed],
    };

    /// <summary>States the runner still has work in.</summary>
    public static IReadOnlyCollection<string> Open => Moves.Keys;

    public static bool IsOpen(string status) => Moves.ContainsKey(status);

    public static bool CanMove(string from, string to) => Moves.TryGetValue(from, out var next) && next.Contains(to);
}
