namespace Embedding.Api.Batches;

/// <summary>
/// One runner per storage directory: API processes sharing it (on one machine) all serve the endpoints, but only the
/// holder of this lock file runs jobs, so no line is run twice. Another process takes over when the holder exits.
/// </summary>
public static class RunnerLock
{
    /// <summary>Waits for the lock (trying every 10 s); null when stopping first. Dispose the stream to let go.</summary>
    public static async Task<FileStream?> AcquireAsync(BatchStore store, ILogger logger, CancellationToken stopping)
    {
        var logged = false;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var path = await store.LockPathAsync(stopping);
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1);
            }
            catch (IOException) when (!stopping.IsCancellationRequested)
            {
                if (!logged) logger.LogInformation("Another API process runs the batch jobs in this storage directory; this one serves the endpoints");
                logged = true;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Batch storage is not usable; batch jobs wait until it is");
            }
            try { await Task.Delay(TimeSpan.FromSeconds(10), stopping); }
            catch (OperationCanceledException) { }
        }
        return null;
    }
}
