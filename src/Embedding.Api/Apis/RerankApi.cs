using Embedding.Api.Security;
using Embedding.Api.Services;
using Microsoft.Extensions.Options;

namespace Embedding.Api.Apis;

/// <summary>
/// Reranking in the shape clients already speak: Cohere's <c>POST /v1/rerank</c> and <c>POST /v2/rerank</c> (LangChain's
/// CohereRerank, LiteLLM, RAGFlow) and Jina's <c>/v1/rerank</c>, which shares their core. Same keys, limits and errors
/// as <c>/v1/embeddings</c>; the tokens the pairs take count toward the key's tokens per minute.
/// </summary>
public static class RerankApi
{
    public static IEndpointRouteBuilder MapRerankApi(this IEndpointRouteBuilder app)
    {
        app.MapApiGroup("/v1").MapPost("/rerank", (HttpContext http, RerankRequestParser parser, RerankService service, TokenQuotas quotas,
            IOptions<EmbeddingApiOptions> options) => RerankAsync(http, parser, service, quotas, options, apiVersion: 1));
        app.MapApiGroup("/v2").MapPost("/rerank", (HttpContext http, RerankRequestParser parser, RerankService service, TokenQuotas quotas,
            IOptions<EmbeddingApiOptions> options) => RerankAsync(http, parser, service, quotas, options, apiVersion: 2));
        return app;
    }

    private static Task RerankAsync(HttpContext http, RerankRequestParser parser, RerankService service, TokenQuotas quotas,
                                    IOptions<EmbeddingApiOptions> options, int apiVersion) =>
        MeteredRequest.HandleAsync<RerankRequest, RerankResult>(http, options, quotas, body => parser.Parse(body, apiVersion),
            (request, ct) => service.RerankAsync(request, ct), result => result.Tokens,
            (writer, request, result) =>
            {
                RerankResponse.Write(writer, request, result, Guid.NewGuid().ToString());
                return Task.CompletedTask;
            });
}
