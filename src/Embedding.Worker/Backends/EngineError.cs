using System.Text.Json;

namespace Embedding.Worker.Backends;

/// <summary>
/// The reason in an engine's error body. SGLang writes a flat one, <c>{"object":"error","message":…,"type":
/// "BadRequestError","param":null,"code":400}</c> (entrypoints/openai/serving_base.py, create_error_response); OpenAI
/// and later SGLang versions nest it, <c>{"error":{"message":…}}</c>. Anything else is quoted, shortened.
/// </summary>
public static class EngineError
{
    public static string Reason(string body, int status)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (root.TryGetProperty("message", out var flat) && flat.ValueKind == JsonValueKind.String) return flat.GetString()!;
                if (root.TryGetProperty("error", out var nested) && nested.ValueKind == JsonValueKind.Object &&
                    nested.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String) return message.GetString()!;
            }
        }
        catch (JsonException) { }
        var text = body.Trim();
        return text.Length == 0 ? $"HTTP {status}" : text.Length <= 300 ? text : text[..300] + "…";
    }
}
