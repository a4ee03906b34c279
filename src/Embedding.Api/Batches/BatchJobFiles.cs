namespace Embedding.Api.Batches;

/// <summary>
/// A running job's output and error files, in the store's work directory: opened at their committed length (bytes past
/// it belong to lines redone after a restart), checkpointed with the job's state, and at the end turned into files of
/// their own in the store.
/// </summary>
public sealed class BatchJobFiles(BatchStore store)
{
    private string WorkPath(BatchJob job, string kind) => Path.Combine(store.WorkDirectory, $"{job.Id}.{kind}.jsonl");

    /// <summary>A job's "output" or "errors" file, cut back to its committed length and positioned at its end.</summary>
    public FileStream Open(BatchJob job, string kind, long committed)
    {
        var stream = new FileStream(WorkPath(job, kind), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 1 << 16, useAsync: true);
        stream.SetLength(committed);
        stream.Seek(committed, SeekOrigin.Begin);
        return stream;
    }

    /// <summary>What is written is on disk, then its length is the job's committed length.</summary>
    public async Task CheckpointAsync(BatchJob job, FileStream output, FileStream errors)
    {
        await output.FlushAsync();
        await errors.FlushAsync();
        output.Flush(flushToDisk: true);
        errors.Flush(flushToDisk: true);
        job.OutputBytes = output.Length;
        job.ErrorBytes = errors.Length;
        await store.SaveAsync(job, CancellationToken.None);
    }

    /// <summary>The committed output and errors become files of the store (none for an empty one), named on the job.</summary>
    public async Task PublishAsync(BatchJob job, CancellationToken ct)
    {
        foreach (var (kind, committed) in new[] { ("output", job.OutputBytes), ("errors", job.ErrorBytes) })
        {
            var path = WorkPath(job, kind);
            if (File.Exists(path))
            {
                await using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write)) stream.SetLength(committed);
                if (committed == 0) File.Delete(path);
            }
            if (committed == 0) continue;
            // Ids follow from the job's, so finishing again after a crash finds the same files.
            var file = await store.AddFileAsync(job.Owner, "batch_output", $"{job.Id}_{kind}.jsonl", path, ct,
                                                id: $"file-{job.Id["batch_".Length..]}{(kind == "output" ? "o" : "e")}", expiresAfterSeconds: job.OutputExpiresAfterSeconds);
            if (kind == "output") job.OutputFileId = file.Id; else job.ErrorFileId = file.Id;
        }
    }
}
