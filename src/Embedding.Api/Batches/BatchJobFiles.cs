namespace Embedding.Api.Batches;

/// <summary>
/// A running job's output and error files, in the store's work directory, one pair per lease
/// (<see cref="BatchJob.WorkSegment"/>): a new lease copies the committed bytes of the last checkpoint's files into its
/// own and appends there, so lines past the checkpoint (redone on resume) are dropped, and a runner that lost its lease
/// but still writes only ever writes files nobody reads. Checkpointed with the job's state, and at the end turned into
/// files of their own in the store.
/// </summary>
public sealed class BatchJobFiles(IBatchStore store)
{
    /// <summary>Lease 0 (jobs written before leases) keeps the unnumbered name.</summary>
    private string WorkPath(BatchJob job, string kind, long segment) =>
        Path.Combine(store.Directory.WorkDirectory, segment == 0 ? $"{job.Id}.{kind}.jsonl" : $"{job.Id}.{kind}.{segment}.jsonl");

    /// <summary>Makes this lease's work files hold exactly the committed bytes (copied from the checkpoint's segment when that is another lease's).</summary>
    public async Task TakeOverAsync(BatchJob job, CancellationToken ct)
    {
        if (job.WorkSegment == job.Lease) return;
        await CopyCommittedAsync(job, "output", job.OutputBytes, ct);
        await CopyCommittedAsync(job, "errors", job.ErrorBytes, ct);
        job.StaleSegment = job.WorkSegment;
        job.WorkSegment = job.Lease;
    }

    /// <summary>The first <paramref name="committed"/> bytes of the checkpoint's work file, as this lease's (new) work file.</summary>
    private async Task CopyCommittedAsync(BatchJob job, string kind, long committed, CancellationToken ct)
    {
        await using var target = new FileStream(WorkPath(job, kind, job.Lease), FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16, useAsync: true);
        if (committed == 0) return;
        // Another runner may still hold the old file open for writing (its lease ran out while it lived).
        await using var source = new FileStream(WorkPath(job, kind, job.WorkSegment), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16, useAsync: true);
        if (source.Length < committed)
            throw new InvalidDataException($"Batch {job.Id}: the {kind} work file has {source.Length} bytes, fewer than the {committed} committed.");
        var buffer = new byte[1 << 16];
        for (var left = committed; left > 0;)
        {
            var read = await source.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), ct);
            if (read == 0) throw new EndOfStreamException();
            await target.WriteAsync(buffer.AsMemory(0, read), ct);
            left -= read;
        }
        await target.FlushAsync(ct);
        target.Flush(flushToDisk: true);
    }

    /// <summary>This lease's "output" or "errors" file, cut back to its committed length and positioned at its end.</summary>
    public FileStream Open(BatchJob job, string kind, long committed)
    {
        var stream = new FileStream(WorkPath(job, kind, job.WorkSegment), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 1 << 16, useAsync: true);
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
        DeleteStale(job);
    }

    /// <summary>The previous lease's files, once the store names this lease's (a runner still writing them holds its own handle).</summary>
    private void DeleteStale(BatchJob job)
    {
        if (job.StaleSegment is not { } stale) return;
        foreach (var kind in new[] { "output", "errors" })
            try { File.Delete(WorkPath(job, kind, stale)); }
            catch (IOException) { }  // a share that refuses to delete an open file: left for the job's end
        job.StaleSegment = null;
    }

    /// <summary>The committed output and errors become files of the store (none for an empty one), named on the job.</summary>
    public async Task PublishAsync(BatchJob job, CancellationToken ct)
    {
        foreach (var (kind, committed) in new[] { ("output", job.OutputBytes), ("errors", job.ErrorBytes) })
        {
            if (committed == 0) continue;
            // Ids follow from the job's, so finishing again after a crash finds the same files.
            var id = $"file-{job.Id["batch_".Length..]}{(kind == "output" ? "o" : "e")}";
            var path = WorkPath(job, kind, job.Lease);
            var published = new FileInfo(store.PathOf(id));
            if (!published.Exists || published.Length != committed)
            {
                if (job.WorkSegment != job.Lease) await CopyCommittedAsync(job, kind, committed, ct);
                else await using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write)) stream.SetLength(committed);
            }
            var file = await store.AddFileAsync(job.Owner, "batch_output", $"{job.Id}_{kind}.jsonl", path, ct, id: id, expiresAfterSeconds: job.OutputExpiresAfterSeconds);
            if (kind == "output") job.OutputFileId = file.Id; else job.ErrorFileId = file.Id;
        }
        // What is left of the job's work files (empty ones, earlier leases').
        foreach (var left in System.IO.Directory.EnumerateFiles(store.Directory.WorkDirectory, $"{job.Id}.*.jsonl"))
            try { File.Delete(left); } catch (IOException) { }
    }
}
