using Embedding.Api.Security;

namespace Embedding.Api.Apis;

public static class OpenAIRoutes
{
    /// <summary>The <c>/v1</c> group every OpenAI endpoint of this service sits in: a known key, within its request rate.</summary>
    public static RouteGroupBuilder MapOpenAIGroup(this IEndpointRouteBuilder app) => app.MapApiGroup("/v1");

    /// <summary>A versioned group (<c>/v1</c>, and <c>/v2</c> for Cohere's v2 rerank) under the same key and rate checks.</summary>
    public static RouteGroupBuilder MapApiGroup(this IEndpointRouteBuilder app, string prefix) =>
        app.MapGroup(prefix).RequireAuthorization().RequireRateLimiting(RateLimits.PerKey);

    /// <summary>Whether <paramref name="path"/> is one of the API's versioned routes (counted in the request metrics).</summary>
    public static bool IsApiPath(PathString path) => path.StartsWithSegments("/v1") || path.StartsWithSegments("/v2");
}
