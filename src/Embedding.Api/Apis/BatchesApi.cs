using System.Text.Json;
using Embedding.Api.Batches;
using Embedding.Api.Security;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Embedding.Api.Apis;

/// <summary>
/// OpenAI's Files and Batch APIs, for <c>/v1/embeddings</c> jobs: upload a JSONL file (<c>POST /v1/files</c>, purpose
/// "batch"), start a job on it (<c>POST /v1/batches</c>), follow it (<c>GET /v1/batches/{id}</c>), cancel it, and read
/// its output and error files (<c>GET /v1/files/{id}/content</c>). Files and jobs belong to the API key that made them.
/// </summary>
public static class BatchesApi
{
    public const string Endpoint = "/v1/embeddings";

    public static IEndpointRouteBuilder MapBatchesApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1").RequireAuthorization().RequireRateLimiting(RateLimits.PerKey);
        api.MapPost("/files", UploadFile);
        api.MapGet("/files", ListFiles);
        api.MapGet("/files/{id}", GetFile);
        api.MapGet("/files/{id}/content", GetFileContent);
        api.MapDelete("/files/{id}", DeleteFile);
        api.MapPost("/batches", CreateBatch);
        api.MapGet("/batches", ListBatches);
        api.MapGet("/batches/{id}", GetBatch);
        api.MapPost("/batches/{id}/cancel", CancelBatch);
        return app;
    }

    // ---- files ----

    private static async Task UploadFile(HttpContext http, BatchStore store, IOptions<EmbeddingApiOptions> options)
    {
        var limit = options.Value.Batches.MaxFileBytes;
        var boundary = MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var type) && type.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)
            ? HeaderUtilities.RemoveQuotes(type.Boundary).Value : null;
        if (string.IsNullOrEmpty(boundary))
        {
            await OpenAIError.Invalid("Send the file as multipart/form-data with the fields 'file' and 'purpose'.").WriteAsync(http.Response);
            return;
        }
        if (http.Request.ContentLength > limit + 64 * 1024)
        {
            await FileTooLarge(limit).WriteAsync(http.Response);
            return;
        }
        // The server-wide body cap sits above the file limit so that the check below, with its clear error, runs first.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = limit + 64 * 1024 + 1;

        string? purpose = null, filename = null, temp = null, anchor = null, seconds = null;
        try
        {
            var reader = new MultipartReader(boundary, http.Request.Body);
            while (await reader.ReadNextSectionAsync(http.RequestAborted) is { } section)
            {
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)) continue;
                var name = HeaderUtilities.RemoveQuotes(disposition.Name).Value;
                if (name == "purpose")
                    purpose = await ReadFieldAsync(section.Body, http.RequestAborted);
                else if (name == "expires_after[anchor]")
                    anchor = await ReadFieldAsync(section.Body, http.RequestAborted);
                else if (name == "expires_after[seconds]")
                    seconds = await ReadFieldAsync(section.Body, http.RequestAborted);
                else if (name == "file" && temp is null)
                {
                    filename = HeaderUtilities.RemoveQuotes(disposition.FileName).Value is { Length: > 0 } f ? Path.GetFileName(f) : "upload.jsonl";
                    temp = await store.NewTempPathAsync(http.RequestAborted);
                    if (!await CopyAtMostAsync(section.Body, temp, limit, http.RequestAborted))
                    {
                        await FileTooLarge(limit).WriteAsync(http.Response);
                        return;
                    }
                }
            }
            var error = temp is null ? OpenAIError.Invalid("The form has no 'file' field.", "file", "missing_required_parameter")
                : purpose is null ? OpenAIError.Invalid("The form has no 'purpose' field; use \"batch\".", "purpose", "missing_required_parameter")
                : purpose != "batch" ? OpenAIError.Invalid($"Purpose '{purpose}' is not supported here; this service keeps files for \"batch\" jobs only.", "purpose", "invalid_value")
                : new FileInfo(temp).Length == 0 ? OpenAIError.Invalid("The file is empty.", "file", "empty_file")
                : null;
            int? expiresAfter = null;
            error ??= ParseExpiry("expires_after", anchor, seconds, out expiresAfter);
            if (error is not null)
            {
                await error.WriteAsync(http.Response);
                return;
            }
            var file = await store.AddFileAsync(http.User.KeyName(), purpose!, filename!, temp!, http.RequestAborted, expiresAfterSeconds: expiresAfter);
            temp = null;
            await WriteJsonAsync(http, file.WriteTo);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException && !http.RequestAborted.IsCancellationRequested)
        {
            // A malformed multipart body (or one cut short) is the client's error; an over-long one hits the body cap.
            await (ex is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } ? FileTooLarge(limit)
                : OpenAIError.Invalid($"The multipart body could not be read: {ex.Message}")).WriteAsync(http.Response);
        }
        finally
        {
            if (temp is not null) File.Delete(temp);
        }
    }

    /// <summary>A short form field, read up to 256 bytes (no field of this API is longer).</summary>
    private static async Task<string> ReadFieldAsync(Stream body, CancellationToken ct)
    {
        var buffer = new byte[257];
        int length = 0, read;
        while (length < buffer.Length && (read = await body.ReadAsync(buffer.AsMemory(length), ct)) > 0) length += read;
        return System.Text.Encoding.UTF8.GetString(buffer, 0, length).Trim();
    }

    private static OpenAIError FileTooLarge(long limit) =>
        new(StatusCodes.Status413PayloadTooLarge, $"The file is larger than {limit} bytes. Split it into several batches.", "invalid_request_error", "file", "file_too_large");

    private static async Task<bool> CopyAtMostAsync(Stream source, string path, long limit, CancellationToken ct)
    {
        await using var target = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        var buffer = new byte[1 << 16];
        int read;
        while ((read = await source.ReadAsync(buffer, ct)) > 0)
        {
            if (target.Length + read > limit) return false;
            await target.WriteAsync(buffer.AsMemory(0, read), ct);
        }
        return true;
    }

    private static async Task ListFiles(HttpContext http, BatchStore store, string? purpose, string? after, int? limit)
    {
        var files = await store.ListFilesAsync(http.User.KeyName(), purpose, after, Math.Clamp(limit ?? 10_000, 1, 10_000), http.RequestAborted);
        await WriteListAsync(http, files, f => f.Id, (w, f) => f.WriteTo(w), hasMore: false);
    }

    private static async Task GetFile(HttpContext http, BatchStore store, string id)
    {
        if (await store.GetFileAsync(id, http.User.KeyName(), http.RequestAborted) is not { } file)
            await OpenAIError.NotFound("File", id).WriteAsync(http.Response);
        else await WriteJsonAsync(http, file.WriteTo);
    }

    private static async Task GetFileContent(HttpContext http, BatchStore store, string id)
    {
        if (await store.GetFileAsync(id, http.User.KeyName(), http.RequestAborted) is not { } file || !File.Exists(store.PathOf(id)))
        {
            await OpenAIError.NotFound("File", id).WriteAsync(http.Response);
            return;
        }
        http.Response.ContentType = "application/octet-stream";
        http.Response.Headers.ContentDisposition = new ContentDispositionHeaderValue("attachment") { FileNameStar = file.Filename }.ToString();
        await http.Response.SendFileAsync(store.PathOf(id), http.RequestAborted);
    }

    private static async Task DeleteFile(HttpContext http, BatchStore store, string id)
    {
        if (!await store.DeleteFileAsync(id, http.User.KeyName(), http.RequestAborted))
        {
            await OpenAIError.NotFound("File", id).WriteAsync(http.Response);
            return;
        }
        await WriteJsonAsync(http, w =>
        {
            w.WriteStartObject();
            w.WriteString("id", id);
            w.WriteString("object", "file");
            w.WriteBoolean("deleted", true);
            w.WriteEndObject();
        });
    }

    // ---- batches ----

    private static async Task CreateBatch(HttpContext http, BatchStore store, BatchRunner runner)
    {
        var (job, error) = await ReadCreateRequestAsync(http, store);
        if (error is not null)
        {
            await error.WriteAsync(http.Response);
            return;
        }
        await store.CreateBatchAsync(job!, http.RequestAborted);
        runner.Wake();
        await WriteJsonAsync(http, job!.WriteTo);
    }

    private static async Task<(BatchJob? Job, OpenAIError? Error)> ReadCreateRequestAsync(HttpContext http, BatchStore store)
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
                if (ParseExpiry("output_expires_after", Field("anchor") ?? "", Field("seconds") ?? "", out outputExpiresAfter) is { } expiryError)
                    return (null, expiryError);
            }
            var file = await store.GetFileAsync(fileId, http.User.KeyName(), http.RequestAborted);
            if (file is null)
                return (null, OpenAIError.Invalid($"No such File object: {fileId}.", "input_file_id", "invalid_file"));
            if (file.Purpose != "batch")
                return (null, OpenAIError.Invalid($"File {fileId} has purpose '{file.Purpose}'; a batch's input file must have purpose \"batch\".", "input_file_id", "invalid_file"));

            var now = BatchStore.Now();
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

    /// <summary>
    /// OpenAI's <c>expires_after</c> (<c>anchor</c> "created_at", <c>seconds</c> from an hour to 30 days): the seconds, or
    /// a 400 naming the field. Neither part given: no expiry.
    /// </summary>
    private static OpenAIError? ParseExpiry(string field, string? anchor, string? seconds, out int? expiresAfter)
    {
        expiresAfter = null;
        if (anchor is null && seconds is null) return null;
        if (anchor != "created_at")
            return OpenAIError.Invalid($"{field}.anchor must be \"created_at\".", $"{field}.anchor", "invalid_value");
        if (!int.TryParse(seconds, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value)
            || value is < StoredFile.MinExpirySeconds or > StoredFile.MaxExpirySeconds)
            return OpenAIError.Invalid($"{field}.seconds must be a whole number from {StoredFile.MinExpirySeconds} (one hour) to {StoredFile.MaxExpirySeconds} (30 days).",
                $"{field}.seconds", "invalid_value");
        expiresAfter = value;
        return null;
    }

    private static async Task GetBatch(HttpContext http, BatchStore store, string id)
    {
        if (await store.GetBatchAsync(id, http.User.KeyName(), http.RequestAborted) is not { } job)
            await OpenAIError.NotFound("Batch", id).WriteAsync(http.Response);
        else await WriteJsonAsync(http, job.WriteTo);
    }

    private static async Task ListBatches(HttpContext http, BatchStore store, string? after, int? limit)
    {
        var take = Math.Clamp(limit ?? 20, 1, 100);
        var jobs = await store.ListBatchesAsync(http.User.KeyName(), after, take + 1, http.RequestAborted);
        await WriteListAsync(http, jobs.Take(take).ToList(), j => j.Id, (w, j) => j.WriteTo(w), hasMore: jobs.Count > take);
    }

    private static async Task CancelBatch(HttpContext http, BatchStore store, BatchRunner runner, string id)
    {
        var owner = http.User.KeyName();
        if (await store.GetBatchAsync(id, owner, http.RequestAborted) is not { } job)
        {
            await OpenAIError.NotFound("Batch", id).WriteAsync(http.Response);
            return;
        }
        if (!BatchStatus.IsOpen(job.Status))
        {
            await OpenAIError.Invalid($"Batch {id} is {job.Status}; only a validating or in-progress batch can be cancelled.", "id", "invalid_state")
                .WriteAsync(http.Response);
            return;
        }
        await store.RequestCancelAsync(id, owner, http.RequestAborted);
        runner.Cancel(id);
        await WriteJsonAsync(http, (await store.GetBatchAsync(id, owner, http.RequestAborted))!.WriteTo);
    }

    // ---- writing ----

    private static async Task WriteJsonAsync(HttpContext http, Action<Utf8JsonWriter> write)
    {
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = "application/json";
        await using var writer = new Utf8JsonWriter(http.Response.BodyWriter);
        write(writer);
    }

    private static Task WriteListAsync<T>(HttpContext http, List<T> items, Func<T, string> id, Action<Utf8JsonWriter, T> write, bool hasMore) =>
        WriteJsonAsync(http, w =>
        {
            w.WriteStartObject();
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            foreach (var item in items) write(w, item);
            w.WriteEndArray();
            if (items.Count > 0) { w.WriteString("first_id", id(items[0])); w.WriteString("last_id", id(items[^1])); }
            else { w.WriteNull("first_id"); w.WriteNull("last_id"); }
            w.WriteBoolean("has_more", hasMore);
            w.WriteEndObject();
        });
}
