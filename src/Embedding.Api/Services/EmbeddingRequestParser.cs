using System.Text.Json;
using Embedding.Api.Wire;

namespace Embedding.Api.Services;

/// <summary>
/// Reads an OpenAI embeddings request by hand rather than by model binding, so that every malformed
/// field gets its own 400 naming the field, as OpenAI does, and nothing malformed reaches a worker.
/// Extensions beyond OpenAI's fields: <c>input_type</c> ("query" | "document"), <c>instruction</c>, <c>truncate</c>.
/// </summary>
public sealed class EmbeddingRequestParser(EmbeddingApiOptions options)
{
    public const int MinDimensions = 32;

    public (EmbeddingRequest? Request, OpenAIError? Error) Parse(ReadOnlyMemory<byte> body) =>
        RequestJson.Parse<EmbeddingRequest>(body, "{\"model\": \"...\", \"input\": \"text\"}", Parse);

    private (EmbeddingRequest?, OpenAIError?) Parse(JsonElement root)
    {
        // model
        if (!root.TryGetProperty("model", out var modelElement) || modelElement.ValueKind == JsonValueKind.Null)
            return Fail("You must provide a model parameter.", "model");
        if (modelElement.ValueKind != JsonValueKind.String || modelElement.GetString() is not { Length: > 0 } modelName)
            return Fail("'model' must be a non-empty string.", "model");

        // input
        if (!root.TryGetProperty("input", out var input) || input.ValueKind == JsonValueKind.Null)
            return Fail("You must provide an input parameter: a string or an array of strings.", "input");
        var (inputs, inputError) = ReadInputs(input);
        if (inputError is not null) return (null, inputError);

        // encoding_format
        var base64 = false;
        if (root.TryGetProperty("encoding_format", out var format) && format.ValueKind != JsonValueKind.Null)
        {
            var value = format.ValueKind == JsonValueKind.String ? format.GetString() : null;
            if (value is not ("float" or "base64"))
                return Fail("'encoding_format' must be \"float\" or \"base64\".", "encoding_format");
            base64 = value == "base64";
        }

        // user: optional string, unused beyond validation
        if (root.TryGetProperty("user", out var user) && user.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
            return Fail("'user' must be a string.", "user");

        // Model last among the required fields, as OpenAI does: a malformed request is 400 whatever its model.
        var model = options.Find(modelName);
        if (model is null) return (null, OpenAIError.ModelNotFound(modelName));
        if (model.Kind != Contracts.ModelKind.Embedding) return (null, OpenAIError.WrongModelKind(modelName, model.Kind));

        // dimensions
        int? dimensions = null;
        if (root.TryGetProperty("dimensions", out var dims) && dims.ValueKind != JsonValueKind.Null)
        {
            if (dims.ValueKind != JsonValueKind.Number || !dims.TryGetInt32(out var n))
                return Fail("'dimensions' must be an integer.", "dimensions");
            if (!model.Matryoshka)
                return Fail($"The model '{model.Name}' does not support 'dimensions': it was not trained to be truncated.", "dimensions");
            if (n < MinDimensions || n > model.Dimensions)
                return Fail($"'dimensions' must be between {MinDimensions} and {model.Dimensions} for '{model.Name}'; got {n}.", "dimensions");
            dimensions = n == model.Dimensions ? null : n;
        }

        // Qwen3 instructions: queries get "Instruct: {task}\nQuery:{text}", documents nothing.
        string? instruction = null;
        if (root.TryGetProperty("instruction", out var instr) && instr.ValueKind != JsonValueKind.Null)
        {
            if (instr.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(instr.GetString()))
                return Fail("'instruction' must be a non-empty string.", "instruction");
            instruction = instr.GetString();
        }
        var isQuery = instruction is not null;
        if (root.TryGetProperty("input_type", out var type) && type.ValueKind != JsonValueKind.Null)
        {
            var value = type.ValueKind == JsonValueKind.String ? type.GetString() : null;
            if (value is not ("query" or "document"))
                return Fail("'input_type' must be \"query\" or \"document\".", "input_type");
            if (value == "document" && instruction is not null)
                return Fail("'instruction' applies to queries; documents are embedded without one.", "instruction");
            isQuery = value == "query";
        }

        var truncate = false;
        if (root.TryGetProperty("truncate", out var trunc) && trunc.ValueKind != JsonValueKind.Null)
        {
            if (trunc.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                return Fail("'truncate' must be true or false.", "truncate");
            truncate = trunc.GetBoolean();
        }

        var queryInstruction = isQuery ? instruction ?? options.DefaultQueryInstruction : null;
        return (new EmbeddingRequest(model, modelName, inputs!, dimensions, base64, queryInstruction, truncate), null);
    }

    private (string[]?, OpenAIError?) ReadInputs(JsonElement input)
    {
        switch (input.ValueKind)
        {
            case JsonValueKind.String:
                var single = input.GetString()!;
                return single.Length == 0 ? (null, OpenAIError.Invalid("'input' must not be an empty string.", "input")) : ([single], null);

            case JsonValueKind.Array:
                var count = input.GetArrayLength();
                if (count == 0) return (null, OpenAIError.Invalid("'input' must not be an empty array.", "input"));
                if (count > options.MaxInputs)
                    return (null, OpenAIError.Invalid($"'input' has {count} items; at most {options.MaxInputs} are allowed per request.", "input"));
                var texts = new string[count];
                var i = 0;
                foreach (var item in input.EnumerateArray())
                {
                    if (item.ValueKind is JsonValueKind.Number or JsonValueKind.Array && i == 0 && IsTokenIds(input))
                        return (null, TokenIdsRejected());
                    if (item.ValueKind != JsonValueKind.String)
                        return (null, OpenAIError.Invalid($"'input[{i}]' must be a string; got {RequestJson.Describe(item.ValueKind)}.", $"input[{i}]"));
                    var text = item.GetString()!;
                    if (text.Length == 0) return (null, OpenAIError.Invalid($"'input[{i}]' must not be an empty string.", $"input[{i}]"));
                    texts[i++] = text;
                }
                return (texts, null);

            default:
                return (null, OpenAIError.Invalid($"'input' must be a string or an array of strings; got {RequestJson.Describe(input.ValueKind)}.", "input"));
        }
    }

    /// <summary>[1,2,3] or [[1,2],[3]]: token ids, as LangChain sends by default after tokenising with tiktoken.</summary>
    private static bool IsTokenIds(JsonElement array) =>
        array.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number ||
            (e.ValueKind == JsonValueKind.Array && e.EnumerateArray().All(x => x.ValueKind == JsonValueKind.Number)));

    private static OpenAIError TokenIdsRejected() => OpenAIError.Invalid(
        "'input' holds token ids. Token ids from another tokenizer (e.g. tiktoken's) would be silently wrong for this model, " +
        "so only text is accepted: send the text itself. In LangChain's OpenAIEmbeddings, set check_embedding_ctx_length=False.",
        "input", "token_ids_not_supported");

    private static (EmbeddingRequest?, OpenAIError?) Fail(string message, string? param = null) => (null, OpenAIError.Invalid(message, param));
}
