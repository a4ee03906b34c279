using System.Buffers;
using System.Text.Json;
using Embedding.Api.Security;
using Embedding.Api.Services;
using Embedding.Contracts;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Embedding.Api.Apis;

/// <summary>OpenAI's embeddings API: <c>POST /v1/embeddings</c>, <c>GET /v1/models</c>, <c>GET /v1/models/{id}</c>.</summary>
public static class EmbeddingsApi
{
    private static readonly long StartedAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public static IEndpointRouteBuilder MapEmbeddingsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1").RequireAuthorization().RequireRateLimiting(RateLimits.PerKey);
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
        if (!quotas.TryStart(key, tokensPerMinute, out var wait))
        {
            await RateLimits.RateLimited($"Rate limit reached for tokens: key '{key}' may use {tokensPerMinute} tokens per minute.",
                "tokens", (int)Math.Ceiling(wait.TotalSeconds)).WriteAsync(http.Response);
            return;
        }
        var limit = options.Value.MaxRequestBodyBytes;
        var (body, tooLarge) = await ReadBodyAsync(http, limit);
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
            quotas.Charge(key, tokensPerMinute, result!.PromptTokens);
            http.Response.StatusCode = StatusCodes.Status200OK;
            http.Response.ContentType = "application/json";
            await using var writer = new Utf8JsonWriter(http.Response.BodyWriter);
            await WriteEmbeddingsAsync(writer, request, result);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nobody is left to answer.
        }
    }

    /// <summary>Reads the body into memory, stopping at <paramref name="limit"/> bytes.</summary>
    private static async Task<(ArrayBufferWriter<byte> Body, bool TooLarge)> ReadBodyAsync(HttpContext http, long limit)
    {
        var body = new ArrayBufferWriter<byte>(4096);
        if (http.Request.ContentLength > limit) return (body, true);
        // The server-wide cap sits above the configured limit so that this check, with its clear error, runs first.
        var sizeFeature = http.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (sizeFeature is { IsReadOnly: false }) sizeFeature.MaxRequestBodySize = limit + 1;
        try
        {
            var stream = http.Request.Body;
            while (true)
            {
                var memory = body.GetMemory(16 * 1024);
                var read = await stream.ReadAsync(memory, http.RequestAborted);
                if (read == 0) break;
                body.Advance(read);
                if (body.WrittenCount > limit) return (body, true);
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (body, true);
        }
        return (body, false);
    }

    /// <summary>The response body as OpenAI writes it; batch jobs write the same body into their output files.</summary>
    public static async Task WriteEmbeddingsAsync(Utf8JsonWriter writer, EmbeddingRequest request, EmbeddingResult result)
    {
        writer.WriteStartObject();
        writer.WriteString("object", "list");
        writer.WriteStartArray("data");
        byte[]? buffer = null;
        for (var i = 0; i < result.Embeddings.Length; i++)
        {
            var full = result.Embeddings[i].Vector;
            var vector = request.Dimensions is { } n ? VectorMath.Truncate(full, n) : full;
            writer.WriteStartObject();
            writer.WriteString("object", "embedding");
            writer.WriteNumber("index", i);
            if (request.Base64)
            {
                // OpenAI's base64 format: the float32 values' little-endian bytes.
                buffer ??= ArrayPool<byte>.Shared.Rent(vector.Length * sizeof(float));
                var bytes = buffer.AsSpan(0, vector.Length * sizeof(float));
                VectorMath.WriteLittleEndian(vector, bytes);
                writer.WriteBase64String("embedding", bytes);
            }
            else
            {
                writer.WriteStartArray("embedding");
                foreach (var x in vector) writer.WriteNumberValue(x);
                writer.WriteEndArray();
            }
            writer.WriteEndObject();
            if (writer.BytesPending > 32 * 1024) await writer.FlushAsync();
        }
        if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
        writer.WriteEndArray();
        writer.WriteString("model", request.RequestedModel);
        writer.WriteStartObject("usage");
        writer.WriteNumber("prompt_tokens", result.PromptTokens);
        writer.WriteNumber("total_tokens", result.PromptTokens);
        writer.WriteEndObject();
        writer.WriteEndObject();
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
