using Embedding.Api.Apis;
using Embedding.Api.Security;
using Embedding.Api.Services;
using Embedding.Api.Wire;
using Microsoft.AspNetCore.Diagnostics;

namespace Embedding.Api.Extensions;

/// <summary>The API's request pipeline, in the order Program.cs applies it: metrics, OpenAI-shaped errors, access.</summary>
public static class ApiPipelineExtensions
{
    /// <summary>Counts every API request by final status (and OpenAI error code), errors from the handlers below included.</summary>
    public static void UseRequestMetrics(this WebApplication app)
    {
        var metrics = app.Services.GetRequiredService<ApiMetrics>();
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            finally
            {
                if (OpenAIRoutes.IsApiPath(context.Request.Path))
                    metrics.Request(context.Response.StatusCode, OpenAIError.CodeOf(context));
            }
        });
    }

    /// <summary>Authentication, then per-key and in-flight limits, in that order (limits are per key).</summary>
    public static void UseApiAccess(this WebApplication app)
    {
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        if (app.Services.GetRequiredService<ApiKeyRing>().IsOpen)
            app.Logger.LogWarning("No API keys are configured (Api:Auth:Keys): the API accepts every caller. Configure keys before exposing it.");
    }

    /// <summary>Anything unexpected still answers in OpenAI's error shape, never an HTML page or an empty 500.</summary>
    public static void UseOpenAIErrors(this WebApplication app)
    {
        app.UseExceptionHandler(errorApp => errorApp.Run(context =>
            OpenAIError.Unhandled(context.Features.Get<IExceptionHandlerFeature>()?.Error).WriteAsync(context.Response)));
        app.UseStatusCodePages(async status =>
        {
            // 404/405 for unknown routes, in the same shape.
            var response = status.HttpContext.Response;
            if (response.HasStarted || response.ContentLength > 0) return;
            await OpenAIError.ForStatus(response.StatusCode, status.HttpContext.Request.Method, status.HttpContext.Request.Path).WriteAsync(response);
        });
    }
}
