using System.Text.Json;
using Embedding.Api.Security;
using Embedding.Api.Services;
using Embedding.Api.Wire;
using Microsoft.Extensions.Options;

namespace Embedding.Api.Apis;

/// <summary>
/// The path every model request takes, embeddings and rerank alike: the key's tokens-per-minute balance, the body
/// within its cap, the parser's verdict, the key's model permissions, the service, the tokens charged, the answer.
/// </summary>
public static class MeteredRequest
{
    public static async Task HandleAsync<TRequest, TResult>(HttpContext http, IOptions<EmbeddingApiOptions> options, TokenQuotas quotas,
        Func<ReadOnlyMemory<byte>, (TRequest? Request, OpenAIError? Error)> parse,
        Func<TRequest, CancellationToken, Task<(TResult? Result, OpenAIError? Error)>> serve,
        Func<TResult, long> tokens, Func<Utf8JsonWriter, TRequest, TResult, Task> write)
        where TRequest : class, IModelRequest where TResult : class
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
            var (request, error) = parse(body.WrittenMemory);
            if (error is not null || !http.User.MayUse(request!.Model))
            {
                await (error ?? OpenAIError.ModelNotFound(request!.RequestedModel)).WriteAsync(http.Response);
                return;
            }
            var (result, failure) = await serve(request, http.RequestAborted);
            if (failure is not null)
            {
                await failure.WriteAsync(http.Response);
                return;
            }
            await quotas.ChargeAsync(key, tokensPerMinute, tokens(result!));
            await JsonResponse.WriteAsync(http, writer => write(writer, request, result!));
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nobody is left to answer.
        }
    }
}
