namespace Embedding.Api.Batches;

/// <summary>One line of a JSONL file: its bytes (without the line break), its 1-based number, and where the next line starts.</summary>
public readonly record struct JsonlLine(ReadOnlyMemory<byte> Bytes, int Number, long NextOffset)
{
    public bool IsBlank => Bytes.Span.Trim(" \t\r"u8).IsEmpty;
}
