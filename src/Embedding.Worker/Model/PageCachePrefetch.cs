namespace Embedding.Worker.Model;

/// <summary>
/// Reads a model's files with several threads at once (Worker:Onnx:PrefetchThreads), so that they are in the page cache
/// by the time ONNX Runtime reads them one after the other: for disks that serve parallel reads faster than one
/// sequential reader. Runs beside the session's creation (CUDA's start, the graph's optimisation), taking 64 MiB pieces
/// in file order, ahead of the session's own reads.
/// </summary>
public static class PageCachePrefetch
{
    private const int Piece = 64 << 20;

    /// <summary>The ONNX file and its external data files (model.onnx_data, model.onnx.data, model.onnx_data_1 ...).</summary>
    public static IReadOnlyList<string> FilesOf(string onnxPath)
    {
        var name = Path.GetFileName(onnxPath);
        var directory = Path.GetDirectoryName(Path.GetFullPath(onnxPath))!;
        return Directory.EnumerateFiles(directory).Where(f => Path.GetFileName(f).StartsWith(name, StringComparison.Ordinal)).Order().ToList();
    }

    public static Task RunAsync(IReadOnlyList<string> files, int threads, CancellationToken ct)
    {
        if (threads <= 0) return Task.CompletedTask;
        var pieces = files.SelectMany(f => Enumerable.Range(0, (int)((new FileInfo(f).Length + Piece - 1) / Piece)).Select(i => (File: f, Offset: (long)i * Piece))).ToList();
        var next = -1;
        return Task.WhenAll(Enumerable.Range(0, threads).Select(_ => Task.Run(() =>
        {
            var buffer = new byte[1 << 20];
            int i;
            while ((i = Interlocked.Increment(ref next)) < pieces.Count && !ct.IsCancellationRequested)
            {
                using var handle = File.OpenHandle(pieces[i].File);
                for (long at = pieces[i].Offset, end = Math.Min(at + Piece, RandomAccess.GetLength(handle)); at < end;)
                {
                    var read = RandomAccess.Read(handle, buffer, at);
                    if (read == 0) break;
                    at += read;
                }
            }
        }, ct)));
    }
}
