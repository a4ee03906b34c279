using System.Text.Json;

namespace Embedding.Api.Services;

/// <summary>
/// The body of a rerank response as Cohere writes it (v1 and v2 alike but for <c>meta.api_version</c>), with what
/// Jina's and vLLM's clients read beside it: <c>id</c>, <c>model</c>, <c>results</c> (best first), <c>meta</c> and
/// <c>usage</c>.
/// </summary>
public static class RerankResponse
{
    /// <summary>Cohere bills one search unit per query and up to 100 documents.</summary>
    public const int DocumentsPerSearchUnit = 100;

    /// <summary>Document indices by descending score, ties in request order, cut to <c>top_n</c>.</summary>
    public static int[] Ranking(RerankRequest request, RerankResult result)
    {
        var order = Enumerable.Range(0, result.Scores.Length).OrderByDescending(i => result.Scores[i]).ThenBy(i => i);
        return (request.TopN is { } n ? order.Take(n) : order).ToArray();
    }

    public static void Write(Utf8JsonWriter writer, RerankRequest request, RerankResult result, string id)
    {
        writer.WriteStartObject();
        writer.WriteString("id", id);
        writer.WriteString("model", request.RequestedModel);
        writer.WriteStartArray("results");
        foreach (var i in Ranking(request, result))
        {
            writer.WriteStartObject();
            writer.WriteNumber("index", i);
            writer.WriteNumber("relevance_score", result.Scores[i]);
            if (request.ReturnDocuments)
            {
                // An object comes back as it was sent, every field kept (Cohere v1); a string as {"text": ...}.
                var document = request.Documents[i];
                writer.WritePropertyName("document");
                if (document.Json is { } json) writer.WriteRawValue(json, skipInputValidation: true);
                else
                {
                    writer.WriteStartObject();
                    writer.WriteString("text", document.Text);
                    writer.WriteEndObject();
                }
            }
            writer.WriteEndObject();
        }
        writer.WriteEndArray();

        writer.WriteStartObject("meta");
        writer.WriteStartObject("api_version");
        writer.WriteString("version", request.ApiVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
        writer.WriteEndObject();
        writer.WriteStartObject("billed_units");
        writer.WriteNumber("search_units", (request.Documents.Length + DocumentsPerSearchUnit - 1) / DocumentsPerSearchUnit);
        writer.WriteEndObject();
        writer.WriteStartObject("tokens");
        writer.WriteNumber("input_tokens", result.Tokens);
        writer.WriteNumber("output_tokens", 0);
        writer.WriteEndObject();
        writer.WriteEndObject();

        writer.WriteStartObject("usage");
        writer.WriteNumber("prompt_tokens", result.Tokens);
        writer.WriteNumber("total_tokens", result.Tokens);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }
}
