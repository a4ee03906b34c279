using System.Buffers;
using System.Text.Json;
using Embedding.Contracts;

namespace Embedding.Api.Services;

/// <summary>The body of an embeddings response as OpenAI writes it: <c>/v1/embeddings</c> answers it, batch jobs write it into their output files.</summary>
public static class EmbeddingsResponse
{
    public static async Task WriteAsync(Utf8JsonWriter writer, EmbeddingRequest request, EmbeddingResult result)
    {
        writer.WriteStartObject();
        writer.WriteString("object", "list");
        writer.WriteStartArray("data");
        byte[]? buffer = null;
        for (var i = 0; i < result.Embeddings.Length; i++)
        {
            var full = result.Embeddings[i].Vector;
            var vector = request.Dimensions is { } n ? VectorMath.Truncate(full, n) : full;
            writer.WriteStartObject();
            writer.WriteString("object", "embedding");
            writer.WriteNumber("index", i);
            if (request.Base64)
            {
                // OpenAI's base64 format: the float32 values' little-endian bytes.
                buffer ??= ArrayPool<byte>.Shared.Rent(vector.Length * sizeof(float));
                var bytes = buffer.AsSpan(0, vector.Length * sizeof(float));
                VectorMath.WriteLittleEndian(vector, bytes);
                writer.WriteBase64String("embedding", bytes);
            }
            else
            {
                writer.WriteStartArray("embedding");
                foreach (var x in vector) writer.WriteNumberValue(x);
                writer.WriteEndArray();
            }
            writer.WriteEndObject();
            if (writer.BytesPending > 32 * 1024) await writer.FlushAsync();
        }
        if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
        writer.WriteEndArray();
        writer.WriteString("model", request.RequestedModel);
        writer.WriteStartObject("usage");
        writer.WriteNumber("prompt_tokens", result.PromptTokens);
        writer.WriteNumber("total_tokens", result.PromptTokens);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }
}
