using Embedding.Api.Batches;
using Embedding.Api.Wire;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace Embedding.Api.Apis;

/// <summary>
/// The multipart form of <c>POST /v1/files</c>: <c>file</c> (streamed to a temporary file in the store, at most the
/// configured size), <c>purpose</c> ("batch") and the optional <c>expires_after[anchor]</c> / <c>expires_after[seconds]</c>.
/// </summary>
public sealed record FileUploadForm(string Purpose, string Filename, string TempPath, int? ExpiresAfterSeconds)
{
    /// <summary>Room for the form's boundaries, headers and short fields around the file itself.</summary>
    private const long FormOverheadBytes = 64 * 1024;

    /// <summary>
    /// The form, or the error to answer. On success the caller owns <see cref="TempPath"/>; on an error nothing is left behind.
    /// </summary>
    public static async Task<(FileUploadForm? Form, OpenAIError? Error)> ReadAsync(HttpContext http, IBatchStore store, long limit)
    {
        var boundary = MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var type) && type.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)
            ? HeaderUtilities.RemoveQuotes(type.Boundary).Value : null;
        if (string.IsNullOrEmpty(boundary))
            return (null, OpenAIError.Invalid("Send the file as multipart/form-data with the fields 'file' and 'purpose'."));
        if (!RequestBody.Admit(http, limit + FormOverheadBytes)) return (null, OpenAIError.FileTooLarge(limit));

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
                    if (!await CopyAtMostAsync(section.Body, temp, limit, http.RequestAborted)) return (null, OpenAIError.FileTooLarge(limit));
                }
            }
            var error = temp is null ? OpenAIError.Invalid("The form has no 'file' field.", "file", "missing_required_parameter")
                : purpose is null ? OpenAIError.Invalid("The form has no 'purpose' field; use \"batch\".", "purpose", "missing_required_parameter")
                : purpose != "batch" ? OpenAIError.Invalid($"Purpose '{purpose}' is not supported here; this service keeps files for \"batch\" jobs only.", "purpose", "invalid_value")
                : new FileInfo(temp).Length == 0 ? OpenAIError.Invalid("The file is empty.", "file", "empty_file")
                : null;
            int? expiresAfter = null;
            error ??= ExpiresAfter.Parse("expires_after", anchor, seconds, out expiresAfter);
            if (error is not null) return (null, error);
            var form = new FileUploadForm(purpose!, filename!, temp!, expiresAfter);
            temp = null;
            return (form, null);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException && !http.RequestAborted.IsCancellationRequested)
        {
            // A malformed multipart body (or one cut short) is the client's error; an over-long one hits the body cap.
            return (null, RequestBody.IsTooLarge(ex) ? OpenAIError.FileTooLarge(limit) : OpenAIError.Invalid($"The multipart body could not be read: {ex.Message}"));
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
}
