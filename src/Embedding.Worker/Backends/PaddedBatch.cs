using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Embedding.Worker.Backends;

/// <summary>
/// A batch of token-id rows as a Qwen3 graph takes it: padded on the right, so each row's positions are 0..n-1 whatever
/// else is in the batch, with pads masked out. Shared by the embedding and the reranker backends.
/// </summary>
internal sealed record PaddedBatch(long[] Ids, long[] Mask, long[]? Positions, long[] Shape)
{
    public static PaddedBatch From(IReadOnlyList<TokenizedText> batch, long padId, bool withPositions)
    {
        int rows = batch.Count, cols = batch.Max(t => t.TokenIds.Length);
        var ids = new long[rows * cols];
        var mask = new long[rows * cols];
        var positions = withPositions ? new long[rows * cols] : null;
        for (var r = 0; r < rows; r++)
        {
            var tokens = batch[r].TokenIds;
            for (var c = 0; c < cols; c++)
            {
                var real = c < tokens.Length;
                ids[r * cols + c] = real ? tokens[c] : padId;
                mask[r * cols + c] = real ? 1 : 0;
                if (positions is not null) positions[r * cols + c] = real ? c : 0;
            }
        }
        return new PaddedBatch(ids, mask, positions, [rows, cols]);
    }

    /// <summary>One of the batch's integer inputs in the element type the graph declares for it (int64, or int32).</summary>
    public static OrtValue Tensor(long[] values, long[] shape, NodeMetadata meta) => meta.ElementDataType switch
    {
        TensorElementType.Int64 => OrtValue.CreateTensorValueFromMemory(values, shape),
        TensorElementType.Int32 => OrtValue.CreateTensorValueFromMemory(Array.ConvertAll(values, v => (int)v), shape),
        var other => throw new InvalidDataException($"Input of element type {other}: int64 or int32 expected."),
    };
}
