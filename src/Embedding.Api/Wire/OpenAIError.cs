using System.Text.Json;

namespace Embedding.Api.Wire;

/// <summary>
/// An OpenAI-shaped error: <c>{"error":{"message","type","param","code"}}</c> with its HTTP status. Every error the
/// API answers with is made by one of the factories below, so each status, type and code is written once.
/// </summary>
public sealed record OpenAIError(int Status, string Message, string Type, string? Param = null, string? Code = null)
{
    public int? RetryAfterSeconds { get; init; }

    public static OpenAIError Invalid(string message, string? param = null, string? code = null) =>
        new(StatusCodes.Status400BadRequest, message, "invalid_request_error", param, code);

    public static OpenAIError ModelNotFound(string model) =>
        new(StatusCodes.Status404NotFound, $"The model '{model}' does not exist or you do not have access to it. GET /v1/models lists the models you can use.",
            "invalid_request_error", "model", "model_not_found");

    /// <summary>400: the model exists but does the other job (an embedding model asked to rerank, or the reverse).</summary>
    public static OpenAIError WrongModelKind(string model, Contracts.ModelKind kind) => Invalid(kind == Contracts.ModelKind.Reranker
            ? $"The model '{model}' is a reranker: it scores query-document pairs on POST /v1/rerank, it does not embed. GET /v1/models lists each model's kind."
            : $"The model '{model}' is an embedding model: it embeds on POST /v1/embeddings, it does not rerank. GET /v1/models lists each model's kind.",
        "model", "model_not_supported");

    public static OpenAIError TooLarge(long limit) =>
        new(StatusCodes.Status413PayloadTooLarge, $"The request body is larger than {limit} bytes. Send fewer or shorter inputs per request.",
            "invalid_request_error", null, "request_too_large");

    public static OpenAIError FileTooLarge(long limit) =>
        new(StatusCodes.Status413PayloadTooLarge, $"The file is larger than {limit} bytes. Split it into several batches.", "invalid_request_error", "file", "file_too_large");

    /// <summary>401: no key, or one this service did not issue.</summary>
    public static OpenAIError InvalidApiKey(bool provided) =>
        new(StatusCodes.Status401Unauthorized,
            provided
                ? "Incorrect API key provided. Send a key issued for this service as 'Authorization: Bearer <key>'."
                : "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
            "invalid_request_error", null, "invalid_api_key");

    /// <summary>429: <paramref name="type"/> names the limit reached ("requests" or "tokens").</summary>
    public static OpenAIError RateLimited(string message, string type, int retryAfterSeconds) =>
        new(StatusCodes.Status429TooManyRequests, message, type, null, "rate_limit_exceeded") { RetryAfterSeconds = Math.Max(1, retryAfterSeconds) };

    public static OpenAIError Unavailable(string message, int retryAfterSeconds) =>
        new(StatusCodes.Status503ServiceUnavailable, message, "server_error", null, "service_unavailable") { RetryAfterSeconds = retryAfterSeconds };

    /// <summary>The tier's workers have no model to run (e.g. it could not be downloaded); the message says why and what to do.</summary>
    public static OpenAIError ModelUnavailable(string message) =>
        new(StatusCodes.Status503ServiceUnavailable, message, "server_error", "model", "model_unavailable") { RetryAfterSeconds = 60 };

    /// <summary>What an exception no handler caught answers: the client's fault for a malformed request, else a 500.</summary>
    public static OpenAIError Unhandled(Exception? exception) => exception switch
    {
        BadHttpRequestException bad => new(bad.StatusCode, bad.Message, "invalid_request_error"),
        // The batch store's database restarting or out of reach: nothing was changed, the request can be repeated.
        System.Data.Common.DbException { IsTransient: true } => Unavailable("The batch job database is unavailable; retry shortly.", 5),
        _ => new(StatusCodes.Status500InternalServerError, "The server had an error while processing your request.", "server_error"),
    };

    /// <summary>A status the routing answered with no body (an unknown path, a method not allowed).</summary>
    public static OpenAIError ForStatus(int status, string method, PathString path) => new(status, status switch
    {
        StatusCodes.Status404NotFound => $"Unknown path {path}. This service serves POST /v1/embeddings, POST /v1/rerank and /v2/rerank, GET /v1/models, /v1/files and /v1/batches.",
        StatusCodes.Status405MethodNotAllowed => $"{method} is not allowed on {path}.",
        _ => $"HTTP {status}.",
    }, "invalid_request_error");

    private const string ItemKey = "embedding.error.code";

    /// <summary>The code (or, where none, the type) of the error this request answered with; null for a success.</summary>
    public static string? CodeOf(HttpContext context) => context.Items.TryGetValue(ItemKey, out var code) ? code as string : null;

    public static OpenAIError NotFound(string what, string id) =>
        new(StatusCodes.Status404NotFound, $"No such {what} object: {id}", "invalid_request_error", "id", "not_found");

    public async Task WriteAsync(HttpResponse response)
    {
        var code = Code ?? Type;
        response.HttpContext.Items[ItemKey] = code;
        System.Diagnostics.Activity.Current?.SetTag("embedding.error.code", code);
        response.StatusCode = Status;
        response.ContentType = "application/json";
        if (RetryAfterSeconds is { } seconds) response.Headers.RetryAfter = seconds.ToString();
        await using var writer = new Utf8JsonWriter(response.BodyWriter);
        WriteTo(writer);
    }

    /// <summary>The body, <c>{"error":{...}}</c>; batch jobs write it into their error files too.</summary>
    public void WriteTo(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        writer.WriteStartObject("error");
        writer.WriteString("message", Message);
        writer.WriteString("type", Type);
        if (Param is null) writer.WriteNull("param"); else writer.WriteString("param", Param);
        if (Code is null) writer.WriteNull("code"); else writer.WriteString("code", Code);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }
}
