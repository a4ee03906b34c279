namespace Embedding.Api.Batches;

/// <summary>
/// Reads a JSONL file line by line from a byte offset, keeping exact offsets (a StreamReader would not), so a job can
/// record "everything before byte N is done" and resume there.
/// </summary>
public static class JsonlReader
{
    public static async IAsyncEnumerable<JsonlLine> ReadAsync(string path, long offset, int firstLineNumber,
                                                              [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        stream.Seek(offset, SeekOrigin.Begin);
        var buffer = new byte[1 << 16];
        int start = 0, end = 0, number = firstLineNumber;
        var position = offset;  // file offset of buffer[start]
        while (true)
        {
            var newline = buffer.AsSpan(start, end - start).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var line = buffer.AsMemory(start, newline).ToArray();
                position += newline + 1;
                start += newline + 1;
                yield return new JsonlLine(TrimCarriageReturn(line), number++, position);
                continue;
            }
            // No full line in the buffer: keep the partial line, grow if it fills the buffer, read more.
            if (start > 0)
            {
                Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                end -= start;
                start = 0;
            }
            if (end == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
            var read = await stream.ReadAsync(buffer.AsMemory(end), ct);
            if (read == 0)
            {
                if (end > start)
                {
                    var last = buffer.AsMemory(start, end - start).ToArray();
                    yield return new JsonlLine(TrimCarriageReturn(last), number, position + last.Length);
                }
                yield break;
            }
            end += read;
        }
    }

    private static ReadOnlyMemory<byte> TrimCarriageReturn(byte[] line) =>
        line.Length > 0 && line[^1] == (byte)'\r' ? line.AsMemory(0, line.Length - 1) : line;
}
