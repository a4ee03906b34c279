using System.Text.Json;

namespace Embedding.Api.Batches;

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
