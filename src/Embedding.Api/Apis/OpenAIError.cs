using System.Text.Json;

namespace Embedding.Api.Apis;

/// <summary>An OpenAI-shaped error: <c>{"error":{"message","type","param","code"}}</c> with its HTTP status.</summary>
public sealed record OpenAIError(int Status, string Message, string Type, string? Param = null, string? Code = null)
{
    public int? RetryAfterSeconds { get; init; }

    public static OpenAIError Invalid(string message, string? param = null, string? code = null) =>
        new(StatusCodes.Status400BadRequest, message, "invalid_request_error", param, code);

    public static OpenAIError ModelNotFound(string model) =>
        new(StatusCodes.Status404NotFound, $"The model '{model}' does not exist or you do not have access to it. GET /v1/models lists the models you can use.",
            "invalid_request_error", "model", "model_not_found");

    public static OpenAIError TooLarge(long limit) =>
        new(StatusCodes.Status413PayloadTooLarge, $"The request body is larger than {limit} bytes. Send fewer or shorter inputs per request.",
            "invalid_request_error", null, "request_too_large");

    public static OpenAIError Unavailable(string message, int retryAfterSeconds) =>
        new(StatusCodes.Status503ServiceUnavailable, message, "server_error", null, "service_unavailable") { RetryAfterSeconds = retryAfterSeconds };

    /// <summary>The tier's workers have no model to run (e.g. it could not be downloaded); the message says why and what to do.</summary>
    public static OpenAIError ModelUnavailable(string message) =>
        new(StatusCodes.Status503ServiceUnavailable, message, "server_error", "model", "model_unavailable") { RetryAfterSeconds = 60 };

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
