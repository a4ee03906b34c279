using Embedding.Api.Batches;
using Embedding.Api.Security;
using Embedding.Api.Wire;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Embedding.Api.Apis;

/// <summary>
/// OpenAI's Files API, for batch jobs' input and output: upload a JSONL file (<c>POST /v1/files</c>, purpose "batch"),
/// list, describe and delete files, and read a file's bytes (<c>GET /v1/files/{id}/content</c>). Files belong to the
/// API key that made them.
/// </summary>
public static class FilesApi
{
    public static IEndpointRouteBuilder MapFilesApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapOpenAIGroup();
        api.MapPost("/files", UploadFile);
        api.MapGet("/files", ListFiles);
        api.MapGet("/files/{id}", GetFile);
        api.MapGet("/files/{id}/content", GetFileContent);
        api.MapDelete("/files/{id}", DeleteFile);
        return app;
    }

    private static async Task UploadFile(HttpContext http, IBatchStore store, IOptions<EmbeddingApiOptions> options)
    {
        var (form, error) = await FileUploadForm.ReadAsync(http, store, options.Value.Batches.MaxFileBytes);
        if (error is not null)
        {
            await error.WriteAsync(http.Response);
            return;
        }
        try
        {
            var file = await store.AddFileAsync(http.User.KeyName(), form!.Purpose, form.Filename, form.TempPath, http.RequestAborted,
                                                expiresAfterSeconds: form.ExpiresAfterSeconds);
            await JsonResponse.WriteAsync(http, file.WriteTo);
        }
        finally
        {
            // Kept files were moved into the store; anything still here is an upload that was not kept.
            File.Delete(form!.TempPath);
        }
    }

    private static async Task ListFiles(HttpContext http, IBatchStore store, string? purpose, string? after, int? limit)
    {
        var files = await store.ListFilesAsync(http.User.KeyName(), purpose, after, Math.Clamp(limit ?? 10_000, 1, 10_000), http.RequestAborted);
        await JsonResponse.WriteListAsync(http, files, f => f.Id, (w, f) => f.WriteTo(w), hasMore: false);
    }

    private static async Task GetFile(HttpContext http, IBatchStore store, string id)
    {
        if (await store.GetFileAsync(id, http.User.KeyName(), http.RequestAborted) is not { } file)
            await OpenAIError.NotFound("File", id).WriteAsync(http.Response);
        else await JsonResponse.WriteAsync(http, file.WriteTo);
    }

    private static async Task GetFileContent(HttpContext http, IBatchStore store, string id)
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

    private static async Task DeleteFile(HttpContext http, IBatchStore store, string id)
    {
        if (!await store.DeleteFileAsync(id, http.User.KeyName(), http.RequestAborted))
        {
            await OpenAIError.NotFound("File", id).WriteAsync(http.Response);
            return;
        }
        await JsonResponse.WriteAsync(http, w =>
        {
            w.WriteStartObject();
            w.WriteString("id", id);
            w.WriteString("object", "file");
            w.WriteBoolean("deleted", true);
            w.WriteEndObject();
        });
    }
}
