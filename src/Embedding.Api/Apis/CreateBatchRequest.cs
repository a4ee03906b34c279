using System.Text.Json;
using Embedding.Api.Batches;
using Embedding.Api.Security;
using Embedding.Api.Wire;

namespace Embedding.Api.Apis;

/// <summary>
/// The body of <c>POST /v1/batches</c> (<c>input_file_id</c>, <c>endpoint</c>, <c>completion_window</c>, <c>metadata</c>,
/// <c>output_expires_after</c>) checked as OpenAI checks it, and the job it creates for the calling key.
/// </summary>
public static class CreateBatchRequest
{
    /// <summary>The one endpoint this service runs batches of.</summary>
    public const string Endpoint = "/v1/embeddings";

    /// <summary>The job to create, or the 400 that says which field is wrong.</summary>
    public static async Task<(BatchJob? Job, OpenAIError? Error)> ReadAsync(HttpContext http, IBatchStore store)
    {
        JsonDocument doc;
        try
        {
            doc = await JsonDocument.ParseAsync(http.Request.Body, new JsonDocumentOptions { MaxDepth = 8 }, http.RequestAborted);
        }
        catch (JsonException ex)
        {
            return (null, OpenAIError.Invalid($"The body is not valid JSON ({ex.Message})."));
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return (null, OpenAIError.Invalid("The body must be a JSON object."));
            string? Text(string name) => root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

            if (Text("input_file_id") is not { Length: > 0 } fileId)
                return (null, OpenAIError.Invalid("input_file_id is required: the id of an uploaded file with purpose \"batch\".", "input_file_id", "missing_required_parameter"));
            if (Text("endpoint") is not { } endpoint)
                return (null, OpenAIError.Invalid($"endpoint is required; this service runs \"{Endpoint}\" batches.", "endpoint", "missing_required_parameter"));
            if (endpoint != Endpoint)
                return (null, OpenAIError.Invalid($"Endpoint '{endpoint}' is not supported; this service runs \"{Endpoint}\" batches.", "endpoint", "invalid_value"));
            if (Text("completion_window") != "24h")
                return (null, OpenAIError.Invalid("completion_window must be \"24h\".", "completion_window", "invalid_value"));
            Dictionary<string, string>? metadata = null;
            if (root.TryGetProperty("metadata", out var meta) && meta.ValueKind != JsonValueKind.Null)
            {
                if (meta.ValueKind != JsonValueKind.Object || meta.EnumerateObject().Count() > 16
                    || meta.EnumerateObject().Any(p => p.Name.Length > 64 || p.Value.ValueKind != JsonValueKind.String || p.Value.GetString()!.Length > 512))
                    return (null, OpenAIError.Invalid("metadata must be an object of at most 16 string values (keys up to 64 characters, values up to 512).", "metadata", "invalid_value"));
                metadata = meta.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
            }
            int? outputExpiresAfter = null;
            if (root.TryGetProperty("output_expires_after", out var expiry) && expiry.ValueKind != JsonValueKind.Null)
            {
                string? Field(string name) => expiry.ValueKind == JsonValueKind.Object && expiry.TryGetProperty(name, out var v)
                    ? v.ValueKind == JsonValueKind.String ? v.GetString() : v.GetRawText() : null;
                if (ExpiresAfter.Parse("output_expires_after", Field("anchor") ?? "", Field("seconds") ?? "", out outputExpiresAfter) is { } expiryError)
                    return (null, expiryError);
            }
            var file = await store.GetFileAsync(fileId, http.User.KeyName(), http.RequestAborted);
            if (file is null)
                return (null, OpenAIError.Invalid($"No such File object: {fileId}.", "input_file_id", "invalid_file"));
            if (file.Purpose != "batch")
                return (null, OpenAIError.Invalid($"File {fileId} has purpose '{file.Purpose}'; a batch's input file must have purpose \"batch\".", "input_file_id", "invalid_file"));

            var now = IBatchStore.Now();
            return (new BatchJob
            {
                Id = $"batch_{Guid.NewGuid():N}",
                Owner = http.User.KeyName(),
                Endpoint = endpoint,
                InputFileId = fileId,
                CompletionWindow = "24h",
                CreatedAt = now,
                ExpiresAt = now + 24 * 3600,
                Metadata = metadata,
                OutputExpiresAfterSeconds = outputExpiresAfter,
                AllowedModels = http.User.FindAll(ApiKeyHandler.ModelsClaim).Select(c => c.Value).ToList(),
            }, null);
        }
    }
}
