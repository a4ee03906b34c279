using System.Text.Json;
using Embedding.Api.Wire;

namespace Embedding.Api.Services;

/// <summary>
/// What every hand-written request parser shares: the body read as one JSON document (malformed JSON and malformed
/// UTF-8 each answered with their own 400), and how a JSON value's kind is named in an error message.
/// </summary>
public static class RequestJson
{
    /// <summary>Parses <paramref name="body"/> and hands its root to <paramref name="read"/>; <paramref name="example"/> shows a valid body.</summary>
    public static (T? Request, OpenAIError? Error) Parse<T>(ReadOnlyMemory<byte> body, string example, Func<JsonElement, (T?, OpenAIError?)> read)
        where T : class
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException ex)
        {
            return (null, OpenAIError.Invalid($"The body is not valid JSON ({ex.Message}). Send a JSON object such as {example}."));
        }
        using (document)
        {
            try
            {
                if (document.RootElement.ValueKind != JsonValueKind.Object) return (null, OpenAIError.Invalid("The body must be a JSON object."));
                return read(document.RootElement);
            }
            catch (InvalidOperationException)
            {
                // JsonDocument checks a string's UTF-8 only when it is read.
                return (null, OpenAIError.Invalid("The body is not valid UTF-8 text."));
            }
        }
    }

    public static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Null => "null",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Number => "a number",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        _ => kind.ToString().ToLowerInvariant(),
    };
}
