using System.Text.Json;
using Embedding.Api.Wire;
using Embedding.Contracts;

namespace Embedding.Api.Services;

/// <summary>
/// Reads a rerank request in the shape Cohere's v1 and v2 rerank APIs define (and Jina's, which is the same core):
/// <c>model</c>, <c>query</c>, <c>documents</c> (strings, or objects with <c>text</c>), <c>top_n</c>,
/// <c>return_documents</c>, v1's <c>rank_fields</c> and <c>max_chunks_per_doc</c>, v2's <c>max_tokens_per_doc</c>; and
/// this service's <c>instruction</c> (the task the Qwen3 reranker's prompt states). By hand, as the embeddings parser
/// does, so that every malformed field gets its own 400 naming it. Fields no client needs here (v2's <c>priority</c>)
/// are ignored, as unknown fields are.
/// </summary>
public sealed class RerankRequestParser(EmbeddingApiOptions options)
{
    public (RerankRequest? Request, OpenAIError? Error) Parse(ReadOnlyMemory<byte> body, int apiVersion) =>
        RequestJson.Parse<RerankRequest>(body, "{\"model\": \"...\", \"query\": \"...\", \"documents\": [\"...\"]}", root => Parse(root, apiVersion));

    private (RerankRequest?, OpenAIError?) Parse(JsonElement root, int apiVersion)
    {
        if (!root.TryGetProperty("model", out var modelElement) || modelElement.ValueKind == JsonValueKind.Null)
            return Fail("You must provide a model parameter: the name of a reranker model (GET /v1/models lists them).", "model");
        if (modelElement.ValueKind != JsonValueKind.String || modelElement.GetString() is not { Length: > 0 } modelName)
            return Fail("'model' must be a non-empty string.", "model");

        if (!root.TryGetProperty("query", out var queryElement) || queryElement.ValueKind == JsonValueKind.Null)
            return Fail("You must provide a query parameter: the text the documents are ranked against.", "query");
        if (queryElement.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(queryElement.GetString()))
            return Fail($"'query' must be a non-empty string; got {(queryElement.ValueKind == JsonValueKind.String ? "an empty string" : RequestJson.Describe(queryElement.ValueKind))}.", "query");
        var query = queryElement.GetString()!;

        string[]? rankFields = null;
        if (root.TryGetProperty("rank_fields", out var fields) && fields.ValueKind != JsonValueKind.Null)
        {
            if (fields.ValueKind != JsonValueKind.Array || fields.GetArrayLength() == 0 ||
                fields.EnumerateArray().Any(f => f.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(f.GetString())))
                return Fail("'rank_fields' must be a non-empty array of field names (strings).", "rank_fields");
            rankFields = fields.EnumerateArray().Select(f => f.GetString()!).ToArray();
        }

        if (!root.TryGetProperty("documents", out var documentsElement) || documentsElement.ValueKind == JsonValueKind.Null)
            return Fail("You must provide a documents parameter: an array of strings, or of objects with a 'text' field.", "documents");
        var (documents, documentsError) = ReadDocuments(documentsElement, rankFields);
        if (documentsError is not null) return (null, documentsError);

        var (topN, topNError) = PositiveInteger(root, "top_n");
        if (topNError is not null) return (null, topNError);

        var returnDocuments = false;
        if (root.TryGetProperty("return_documents", out var returnElement) && returnElement.ValueKind != JsonValueKind.Null)
        {
            if (returnElement.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                return Fail("'return_documents' must be true or false.", "return_documents");
            returnDocuments = returnElement.GetBoolean();
        }

        var (maxTokensPerDoc, maxTokensError) = PositiveInteger(root, "max_tokens_per_doc");
        if (maxTokensError is not null) return (null, maxTokensError);
        // Documents are cut to fit, never split into chunks and scored per chunk: the field is checked, and has no effect.
        var (_, chunksError) = PositiveInteger(root, "max_chunks_per_doc");
        if (chunksError is not null) return (null, chunksError);

        string? instruction = null;
        if (root.TryGetProperty("instruction", out var instructionElement) && instructionElement.ValueKind != JsonValueKind.Null)
        {
            if (instructionElement.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(instructionElement.GetString()))
                return Fail("'instruction' must be a non-empty string: the task the query and documents are judged by.", "instruction");
            instruction = instructionElement.GetString();
        }

        // Model last among the fields, as for embeddings: a malformed request is 400 whatever its model.
        var model = options.Find(modelName);
        if (model is null) return (null, OpenAIError.ModelNotFound(modelName));
        if (model.Kind != ModelKind.Reranker) return (null, OpenAIError.WrongModelKind(modelName, model.Kind));

        // A pair is one input to the model: its document is cut so that prompt, query and document fit the smallest limit.
        var perPair = options.MaxTokensPerInput;
        if (model.InputTokenLimit > 0) perPair = Math.Min(perPair, model.InputTokenLimit);
        if (maxTokensPerDoc is { } asked) perPair = Math.Min(perPair, asked);

        return (new RerankRequest(model, modelName, apiVersion, query, documents!, topN, returnDocuments, instruction, perPair), null);
    }

    private (RerankDocument[]?, OpenAIError?) ReadDocuments(JsonElement element, string[]? rankFields)
    {
        if (element.ValueKind != JsonValueKind.Array)
            return (null, OpenAIError.Invalid($"'documents' must be an array of strings or of objects with a 'text' field; got {RequestJson.Describe(element.ValueKind)}.", "documents"));
        var count = element.GetArrayLength();
        if (count == 0) return (null, OpenAIError.Invalid("'documents' must not be an empty array.", "documents"));
        if (count > options.MaxRerankDocuments)
            return (null, OpenAIError.Invalid($"'documents' has {count} items; at most {options.MaxRerankDocuments} are allowed per request.", "documents"));
        var documents = new RerankDocument[count];
        var i = 0;
        foreach (var item in element.EnumerateArray())
        {
            var param = $"documents[{i}]";
            switch (item.ValueKind)
            {
                case JsonValueKind.String:
                    documents[i] = new RerankDocument(item.GetString()!);
                    break;
                case JsonValueKind.Object when rankFields is not null:
                    // Cohere ranks by the named fields in their order; they are given to the model as "field: value" lines.
                    var lines = new List<string>();
                    foreach (var field in rankFields)
                        if (item.TryGetProperty(field, out var value) && value.ValueKind != JsonValueKind.Null)
                            lines.Add($"{field}: {(value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText())}");
                    if (lines.Count == 0)
                        return (null, OpenAIError.Invalid($"'{param}' has none of the fields named in 'rank_fields' ({string.Join(", ", rankFields)}).", param));
                    documents[i] = new RerankDocument(string.Join('\n', lines), item.GetRawText());
                    break;
                case JsonValueKind.Object:
                    if (!item.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                        return (null, OpenAIError.Invalid($"'{param}' is an object and needs a 'text' field (a string), or name the fields to rank by in 'rank_fields'.", $"{param}.text"));
                    documents[i] = new RerankDocument(text.GetString()!, item.GetRawText());
                    break;
                default:
                    return (null, OpenAIError.Invalid($"'{param}' must be a string or an object with a 'text' field; got {RequestJson.Describe(item.ValueKind)}.", param));
            }
            i++;
        }
        return (documents, null);
    }

    /// <summary>An optional integer field that must be at least 1 when present.</summary>
    private static (int?, OpenAIError?) PositiveInteger(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null) return (null, null);
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt32(out var value) || value < 1)
            return (null, OpenAIError.Invalid($"'{name}' must be a positive integer; got {(element.ValueKind == JsonValueKind.Number ? element.GetRawText() : RequestJson.Describe(element.ValueKind))}.", name));
        return (value, null);
    }

    private static (RerankRequest?, OpenAIError?) Fail(string message, string? param = null) => (null, OpenAIError.Invalid(message, param));
}
