using Embedding.Api.Security;

namespace Embedding.Api.Apis;

public static class OpenAIRoutes
{
    /// <summary>The <c>/v1</c> group every OpenAI endpoint of this service sits in: a known key, within its request rate.</summary>
    public static RouteGroupBuilder MapOpenAIGroup(this IEndpointRouteBuilder app) =>
        app.MapGroup("/v1").RequireAuthorization().RequireRateLimiting(RateLimits.PerKey);
}
