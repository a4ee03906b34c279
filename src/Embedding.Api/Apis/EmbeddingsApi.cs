using Embedding.Api.Security;
using Embedding.Api.Services;
using Embedding.Api.Wire;
using Microsoft.Extensions.Options;

namespace Embedding.Api.Apis;

/// <summary>OpenAI's embeddings API: <c>POST /v1/embeddings</c>, <c>GET /v1/models</c>, <c>GET /v1/models/{id}</c>.</summary>
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

    private static async Task CreateEmbeddings(HttpContext http, EmbeddingRequestParser parser, EmbeddingService service,
                                               TokenQuotas quotas, IOptions<EmbeddingApiOptions> options)
    {
        var key = http.User.KeyName();
        var tokensPerMinute = options.Value.Auth.LimitsFor(key).TokensPerMinute;
        var (mayStart, wait) = await quotas.TryStartAsync(key, tokensPerMinute);
        if (!mayStart)
        {
            await OpenAIError.RateLimited($"Rate limit reached for tokens: key '{key}' may use {tokensPerMinute} tokens per minute.",
                "tokens", (int)Math.Ceiling(wait.TotalSeconds)).WriteAsync(http.Response);
            return;
        }
        var limit = options.Value.MaxRequestBodyBytes;
        var (body, tooLarge) = await RequestBody.ReadAsync(http, limit);
        if (tooLarge)
        {
            await OpenAIError.TooLarge(limit).WriteAsync(http.Response);
            return;
        }
        try
        {
            var (request, error) = parser.Parse(body.WrittenMemory);
            if (error is not null || !http.User.MayUse(request!.Model))
            {
                await (error ?? OpenAIError.ModelNotFound(request!.RequestedModel)).WriteAsync(http.Response);
                return;
            }
            var (result, failure) = await service.EmbedAsync(request, http.RequestAborted);
            if (failure is not null)
            {
                await failure.WriteAsync(http.Response);
                return;
            }
            await quotas.ChargeAsync(key, tokensPerMinute, result!.PromptTokens);
            await JsonResponse.WriteAsync(http, writer => EmbeddingsResponse.WriteAsync(writer, request, result));
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nobody is left to answer.
        }
    }

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

    private static object Describe(ModelOptions m) => new
    {
        id = m.Name,
        @object = "model",
        created = StartedAt,
        owned_by = m.OwnedBy,
        dimensions = m.Dimensions,
        matryoshka = m.Matryoshka,
        max_input_tokens = m.InputTokenLimit > 0 ? m.InputTokenLimit : (int?)null,  // an extension, as dimensions is
    };
}
