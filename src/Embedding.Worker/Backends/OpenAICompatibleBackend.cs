using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Embedding.Contracts;
using Embedding.Worker.Model;

namespace Embedding.Worker.Backends;

/// <summary>
/// An OpenAI-compatible /v1/embeddings engine, e.g. SGLang (<c>sglang.launch_server --is-embedding</c>)
/// serving Qwen3-Embedding-4B on a GPU. Always asks for full-length float vectors: truncation to
/// <c>dimensions</c> happens in one place (the API), whatever the engine supports.
/// With the model's tokenizer, it sends token ids (<c>input</c> as a list of id lists, end-of-sequence included), which
/// SGLang embeds as sent, without tokenising again (managers/tokenizer_manager.py takes <c>input_ids</c> as given): so
/// truncation, usage and batches are exact and the same as on the CPU path, and a whitespace-only text (which SGLang
/// refuses as text, serving_embedding.py) embeds. Without one, texts go as text and counts are estimates.
/// An engine's 4xx is an <see cref="InputRejectedException"/> (the batcher then finds the text it refuses); anything
/// else that fails is a <see cref="BackendException"/>, retried.
/// The HttpClient carries a resilience handler sized from the engine timeout (Extensions.AddApplicationServices).
/// </summary>
public sealed class OpenAICompatibleBackend : IEmbeddingBackend
{
    private readonly HttpClient _http;
    private readonly OpenAIBackendOptions _options;
    private readonly Qwen3Tokenizer? _tokenizer;

    public int Dimensions => _options.Dimensions;
    public string Numerics => BackendNumerics.Engine(_options);
    public int MaxInputTokens => _options.MaxInputTokens;
    public bool PadsBatches => false;  // engines like SGLang pack sequences without padding

    /// <param name="tokenizer">The engine model's tokenizer, for exact counts; null: counts are estimated.</param>
    public OpenAICompatibleBackend(HttpClient http, OpenAIBackendOptions options, Qwen3Tokenizer? tokenizer)
    {
        _http = http;
        _options = options;
        _tokenizer = tokenizer;
        _http.BaseAddress = options.BaseUrl;
        if (!string.IsNullOrEmpty(options.ApiKey))
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.ApiKey);
    }

    public TokenizedText Tokenize(string text, bool truncate, int maxTokens = int.MaxValue)
    {
        if (_tokenizer is null) return new TokenizedText(text, [], TokenEstimate.Count(text));
        var ids = _tokenizer.Encode(text);
        var limit = Math.Min(maxTokens, MaxInputTokens);
        if (truncate && ids.Length > limit) ids = _tokenizer.Truncate(ids, limit);  // cut on ids: the engine takes them as they are
        return new TokenizedText(text, ids, ids.Length);
    }

    public async Task<float[][]> EmbedAsync(IReadOnlyList<TokenizedText> batch, CancellationToken cancellationToken)
    {
        object input = batch.All(t => t.TokenIds.Length > 0) ? batch.Select(t => t.TokenIds).ToArray() : batch.Select(t => t.Text).ToArray();
        using var response = await _http.PostAsJsonAsync("v1/embeddings", new EngineRequest(_options.Model!, input), cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            var status = (int)response.StatusCode;
            if (status is >= 400 and < 500 and not (408 or 429)) throw new InputRejectedException(EngineError.Reason(body, status));
            throw new BackendException($"Engine answered {status}: {Shorten(body)}");
        }
        var answer = await response.Content.ReadFromJsonAsync<EngineResponse>(cancellationToken)
            ?? throw new BackendException("Engine answered an empty body.");
        if (answer.Data is null || answer.Data.Count != batch.Count)
            throw new BackendException($"Engine returned {answer.Data?.Count ?? 0} vectors for {batch.Count} inputs.");

        var result = new float[batch.Count][];
        foreach (var item in answer.Data)
        {
            if (item.Index < 0 || item.Index >= batch.Count || item.Embedding is null)
                throw new BackendException($"Engine returned an item with index {item.Index} and no usable vector.");
            var vector = item.Embedding;
            VectorMath.Normalize(vector);  // harmless when already normalised; engines differ
            result[item.Index] = vector;
        }
        return result;
    }

    /// <summary>Polls the engine's /health (SGLang answers 200 once the model is loaded) until it is healthy.</summary>
    public async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                using var response = await _http.GetAsync("health", cancellationToken);
                if (response.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }  // not listening yet
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested) { }  // slow while loading
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }
    }

    private static string Shorten(string s) => s.Length <= 300 ? s : s[..300] + "…";

    private sealed record EngineRequest(
        [property: JsonPropertyName("model")] string Model,
        [property: JsonPropertyName("input")] object Input)
    {
        [JsonPropertyName("encoding_format")] public string EncodingFormat => "float";
    }

    private sealed record EngineResponse([property: JsonPropertyName("data")] List<EngineItem>? Data);

    private sealed record EngineItem(
        [property: JsonPropertyName("index")] int Index,
        [property: JsonPropertyName("embedding")] float[]? Embedding);
}

/// <summary>Token count estimate for backends without a local tokenizer (about 3 UTF-16 chars per token, plus EOS).</summary>
public static class TokenEstimate
{
    public static int Count(string text) => text.Length / 3 + 1;
}
