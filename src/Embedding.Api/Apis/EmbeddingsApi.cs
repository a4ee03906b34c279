using Embedding.Api.Security;
using Embedding.Api.Services;
using Embedding.Api.Wire;
using Embedding.Contracts;
using Microsoft.Extensions.Options;

namespace Embedding.Api.Apis;

/// <summary>OpenAI's embeddings API: <c>POST /v1/embeddings</c>, <c>GET /v1/models</c> (embedding and reranker models), <c>GET /v1/models/{id}</c>.</summary>
public static class EmbeddingsApi
{
    private static readonly long StartedAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public static IEndpointRouteBuilder MapEmbeddingsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapOpenAIGroup();
        api.MapPost("/embeddings", CreateEmbeddings);
        api.MapGet("/models", ListModels);
        api.MapGet("/models/{**id}", GetModel);
        return app;
    }

    private static Task CreateEmbeddings(HttpContext http, EmbeddingRequestParser parser, EmbeddingService service,
                                         TokenQuotas quotas, IOptions<EmbeddingApiOptions> options) =>
        MeteredRequest.HandleAsync<EmbeddingRequest, EmbeddingResult>(http, options, quotas, parser.Parse,
            (request, ct) => service.EmbedAsync(request, ct), result => result.PromptTokens, EmbeddingsResponse.WriteAsync);

    private static IResult ListModels(HttpContext http, IOptions<EmbeddingApiOptions> options) => Results.Json(new
    {
        @object = "list",
        data = options.Value.Models.Where(http.User.MayUse).Select(Describe),
    });

    private static async Task GetModel(HttpContext http, string id, IOptions<EmbeddingApiOptions> options)
    {
        if (options.Value.Find(id) is not { } model || !http.User.MayUse(model))
        {
            await OpenAIError.ModelNotFound(id).WriteAsync(http.Response);
            return;
        }
        await Results.Json(Describe(model)).ExecuteAsync(http);
    }

    /// <summary>OpenAI's model object, and what it does: <c>kind</c> (embedding or reranker) and, for an embedding model, its vectors.</summary>
    private static object Describe(ModelOptions m) => m.Kind == ModelKind.Reranker
        ? (object)new
        {
            id = m.Name,
            @object = "model",
            created = StartedAt,
            owned_by = m.OwnedBy,
            kind = "reranker",
            max_input_tokens = m.InputTokenLimit > 0 ? m.InputTokenLimit : (int?)null,
        }
        : new
        {
            id = m.Name,
            @object = "model",
            created = StartedAt,
            owned_by = m.OwnedBy,
            kind = "embedding",
            dimensions = m.Dimensions,
            matryoshka = m.Matryoshka,
            max_input_tokens = m.InputTokenLimit > 0 ? m.InputTokenLimit : (int?)null,  // an extension, as dimensions is
        };
}
