using Embedding.Api.Batches;
using Embedding.Api.Security;
using Embedding.Api.Wire;

namespace Embedding.Api.Apis;

/// <summary>
/// OpenAI's Batch API, for <c>/v1/embeddings</c> jobs: start a job on an uploaded file (<c>POST /v1/batches</c>), list
/// and follow jobs (<c>GET /v1/batches/{id}</c>), cancel one; its output and error files are read with
/// <see cref="FilesApi"/>. Jobs belong to the API key that made them.
/// </summary>
public static class BatchesApi
{
    public static IEndpointRouteBuilder MapBatchesApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapOpenAIGroup();
        api.MapPost("/batches", CreateBatch);
        api.MapGet("/batches", ListBatches);
        api.MapGet("/batches/{id}", GetBatch);
        api.MapPost("/batches/{id}/cancel", CancelBatch);
        return app;
    }

    private static async Task CreateBatch(HttpContext http, IBatchStore store, BatchRunner runner)
    {
        var (job, error) = await CreateBatchRequest.ReadAsync(http, store);
        if (error is not null)
        {
            await error.WriteAsync(http.Response);
            return;
        }
        await store.CreateBatchAsync(job!, http.RequestAborted);
        runner.Wake();
        await JsonResponse.WriteAsync(http, job!.WriteTo);
    }

    private static async Task GetBatch(HttpContext http, IBatchStore store, string id)
    {
        if (await store.GetBatchAsync(id, http.User.KeyName(), http.RequestAborted) is not { } job)
            await OpenAIError.NotFound("Batch", id).WriteAsync(http.Response);
        else await JsonResponse.WriteAsync(http, job.WriteTo);
    }

    private static async Task ListBatches(HttpContext http, IBatchStore store, string? after, int? limit)
    {
        var take = Math.Clamp(limit ?? 20, 1, 100);
        var jobs = await store.ListBatchesAsync(http.User.KeyName(), after, take + 1, http.RequestAborted);
        await JsonResponse.WriteListAsync(http, jobs.Take(take).ToList(), j => j.Id, (w, j) => j.WriteTo(w), hasMore: jobs.Count > take);
    }

    private static async Task CancelBatch(HttpContext http, IBatchStore store, BatchRunner runner, string id)
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
        await JsonResponse.WriteAsync(http, (await store.GetBatchAsync(id, owner, http.RequestAborted))!.WriteTo);
    }
}
