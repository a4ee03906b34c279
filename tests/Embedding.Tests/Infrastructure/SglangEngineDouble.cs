using System.Text.Json;
using Embedding.Contracts;
using Embedding.Worker.Backends;
using Embedding.Worker.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Embedding.Tests.Infrastructure;

/// <summary>
/// A DOUBLE of SGLang's HTTP server for an embedding model (<c>sglang.launch_server --is-embedding</c>): the routes and
/// rules the worker meets, written from SGLang's source (sgl-project/sglang; each behaviour names its file), on
/// 127.0.0.1. Vectors are not a model's: each is a hash of the token ids (<see cref="VectorFor"/>), so tests can
/// assert them, and a text sent as text embeds as its ids would (SGLang tokenises text with the model's tokenizer).
/// Read for it (python/sglang/srt/; the stored versions, not all at the v0.5.5 tag): entrypoints/openai/
/// serving_embedding.py and serving_base.py at 012bcb5f98, and a v0.5-era serving_base.py whose create_error_response
/// writes the flat body (later versions nest it under "error"); managers/tokenizer_manager.py, a v0.5-era version's
/// _tokenize_one_request, _validate_one_request and _validate_for_matryoshka_dim; entrypoints/http_server.py at
/// 0025436eab (health_generate, the request-validation handler); entrypoints/openai/protocol.py's EmbeddingRequest,
/// EmbeddingObject and ErrorResponse.
/// </summary>
public sealed class SglangEngineDouble : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Qwen3Tokenizer? _tokenizer;
    private int _refusedHealthChecks;

    /// <summary>SGLang's <c>--model-path</c>: what every response's <c>model</c> says (serving_embedding.py, _build_embedding_response).</summary>
    public string ModelPath { get; init; } = "Qwen/Qwen3-Embedding-4B";

    /// <summary>hidden_size: the length of every vector.</summary>
    public int HiddenSize { get; init; } = 64;

    /// <summary>context_len (<c>--context-length</c>); inputs of this many tokens or more are refused.</summary>
    public int ContextLength { get; init; } = 64;

    /// <summary>The model config's is_matryoshka; false (Qwen3-Embedding's config has none): <c>dimensions</c> is refused.</summary>
    public bool Matryoshka { get; init; }

    /// <summary>
    /// True while the model loads: /health answers 503 (http_server.py: server_status Starting). Set false to finish
    /// loading.
    /// </summary>
    public bool Loading { get; set; }

    /// <summary>Test hook, called with each valid call before it is embedded: a result (e.g. <see cref="Error"/>) answers instead.</summary>
    public Func<EngineCall, Task<IResult?>>? Intercept { get; set; }

    /// <summary>Every /v1/embeddings body received, in arrival order (lock it to read).</summary>
    public List<JsonElement> Requests { get; } = [];

    /// <summary>/health answers of 503 so far.</summary>
    public int RefusedHealthChecks => Volatile.Read(ref _refusedHealthChecks);

    public Uri BaseUrl { get; private set; } = null!;

    /// <param name="tokenizer">The model's tokenizer, for inputs sent as text; null: such inputs are refused here.</param>
    /// <param name="port">0: any free port.</param>
    public SglangEngineDouble(Qwen3Tokenizer? tokenizer, int port = 0)
    {
        _tokenizer = tokenizer;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        _app = builder.Build();
        _app.MapGet("/health", Health);
        _app.MapGet("/health_generate", Health);
        _app.MapPost("/v1/embeddings", (Func<HttpContext, Task<IResult>>)Embeddings);
    }

    public async Task<SglangEngineDouble> StartAsync()
    {
        await _app.StartAsync();
        BaseUrl = new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/");
        return this;
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    /// <summary>The double's vector for a sequence of token ids: a unit vector from a hash of the ids.</summary>
    public static float[] VectorFor(IReadOnlyList<int> ids, int dimensions) => FakeBackend.VectorFor("ids:" + string.Join(',', ids), dimensions);

    public float[] VectorFor(IReadOnlyList<int> ids) => VectorFor(ids, HiddenSize);

    /// <summary>
    /// SGLang's error body for the OpenAI routes: flat, not nested under "error" (serving_base.py, create_error_response:
    /// ErrorResponse(object="error", message, type="BadRequestError", param=None, code=status), status = code).
    /// </summary>
    public static IResult Error(string message, int status = 400, string type = "BadRequestError") =>
        Results.Json(new { @object = "error", message, type, param = (string?)null, code = status }, statusCode: status);

    /// <summary>
    /// http_server.py, health_generate (serves /health and /health_generate): 503 while the server is Starting; otherwise
    /// it sends a one-token request and sleeps a second before checking for an answer, so a healthy engine answers 200
    /// after at least one second.
    /// </summary>
    private async Task<IResult> Health(CancellationToken ct)
    {
        if (Loading)
        {
            Interlocked.Increment(ref _refusedHealthChecks);
            return Results.StatusCode(503);
        }
        await Task.Delay(TimeSpan.FromSeconds(1), ct);
        return Results.Ok();
    }

    private async Task<IResult> Embeddings(HttpContext http)
    {
        JsonElement body;
        try
        {
            body = await JsonSerializer.DeserializeAsync<JsonElement>(http.Request.Body, cancellationToken: http.RequestAborted);
        }
        catch (JsonException ex)
        {
            return Error(ex.Message, type: "Bad Request");  // http_server.py: RequestValidationError answered as a flat 400
        }
        lock (Requests) Requests.Add(body.Clone());

        // protocol.py, EmbeddingRequest: input is str | List[str] | List[int] | List[List[int]] (| multimodal, not
        // modelled); encoding_format is accepted and ignored (EmbeddingObject.embedding is List[float] whatever it says).
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("input", out var input) || Shape(input) is not { } shape)
            return Error("1 validation error for EmbeddingRequest: input", type: "Bad Request");
        if (Validate(input, shape) is { } invalid) return Error(invalid);

        int[][] ids;
        if (shape is InputShape.Text or InputShape.Texts)
        {
            if (_tokenizer is null) return Error("The double was started without a tokenizer; send token ids.");
            var texts = shape == InputShape.Text ? [input.GetString()!] : input.EnumerateArray().Select(e => e.GetString()!).ToArray();
            ids = texts.Select(_tokenizer.Encode).ToArray();  // the model's tokenizer, end-of-sequence appended
        }
        else if (shape == InputShape.Ids) ids = [input.EnumerateArray().Select(e => e.GetInt32()).ToArray()];
        else ids = input.EnumerateArray().Select(seq => seq.EnumerateArray().Select(e => e.GetInt32()).ToArray()).ToArray();

        int? dimensions = body.TryGetProperty("dimensions", out var d) && d.ValueKind == JsonValueKind.Number ? d.GetInt32() : null;
        // tokenizer_manager.py: every input of the request is validated, and one ValueError fails the request; the
        // handler answers it with create_error_response(str(e)), a 400 (serving_embedding.py).
        foreach (var sequence in ids)
            if (ValidateOne(sequence.Length, dimensions) is { } refused) return Error(refused);

        if (Intercept is { } intercept && await intercept(new EngineCall(body, ids)) is { } instead) return instead;

        return Answer(ids.Select(sequence => Shorten(VectorFor(sequence), dimensions)).ToList(), ids.Sum(sequence => sequence.Length));
    }

    /// <summary>
    /// serving_embedding.py, _build_embedding_response: the vectors in input order, <c>model</c> the model path,
    /// <c>usage.prompt_tokens</c> the sum of each input's prompt tokens (its ids, end-of-sequence included).
    /// </summary>
    public IResult Answer(IReadOnlyList<float[]> vectors, int promptTokens) => Results.Json(new
    {
        data = vectors.Select((embedding, i) => new { embedding, index = i, @object = "embedding" }),
        model = ModelPath,
        @object = "list",
        usage = new { prompt_tokens = promptTokens, total_tokens = promptTokens, completion_tokens = 0, prompt_tokens_details = (object?)null },
    });

    private enum InputShape { Text, Texts, Ids, IdLists }

    /// <summary>Which member of the input union the JSON is (pydantic picks the first that fits); null: none.</summary>
    private static InputShape? Shape(JsonElement input)
    {
        if (input.ValueKind == JsonValueKind.String) return InputShape.Text;
        if (input.ValueKind != JsonValueKind.Array) return null;
        var items = input.EnumerateArray().ToList();
        if (items.Count == 0) return InputShape.Ids;  // an empty list fits List[int]; the handler refuses it
        if (items.All(i => i.ValueKind == JsonValueKind.String)) return InputShape.Texts;
        if (items.All(IsInt)) return InputShape.Ids;
        if (items.All(i => i.ValueKind == JsonValueKind.Array && i.EnumerateArray().All(IsInt))) return InputShape.IdLists;
        return null;
    }

    private static bool IsInt(JsonElement e) => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out _);

    /// <summary>serving_embedding.py, EmbeddingHandler._validate_request: its messages, word for word.</summary>
    private static string? Validate(JsonElement input, InputShape shape)
    {
        switch (shape)
        {
            case InputShape.Text:
                var text = input.GetString()!;
                if (text.Length == 0) return "Input cannot be empty";
                return IsBlank(text) ? "Input cannot be empty or whitespace only" : null;
            case InputShape.Texts:
                var i = 0;
                foreach (var item in input.EnumerateArray())
                {
                    if (IsBlank(item.GetString()!)) return $"Input at index {i} cannot be empty or whitespace only";
                    i++;
                }
                return null;
            case InputShape.Ids:
                var ids = input.EnumerateArray().Select(e => e.GetInt32()).ToList();
                if (ids.Count == 0) return "Input cannot be empty";
                var negative = ids.FindIndex(id => id < 0);
                return negative >= 0 ? $"Token ID at index {negative} must be non-negative" : null;
            default:
                var n = 0;
                foreach (var sequence in input.EnumerateArray())
                {
                    var seq = sequence.EnumerateArray().Select(e => e.GetInt32()).ToList();
                    if (seq.Count == 0) return $"Input at index {n} cannot be empty";
                    if (seq.Any(id => id < 0)) return $"Input at index {n} contains negative token IDs";
                    n++;
                }
                return null;
        }
    }

    /// <summary>Python's str.strip() leaves nothing: Unicode whitespace only.</summary>
    private static bool IsBlank(string text) => text.All(char.IsWhiteSpace);

    /// <summary>
    /// tokenizer_manager.py, _validate_one_request (no tokens reserved, auto-truncation off, SGLang's default): an input
    /// of context_len tokens or more is refused; then _validate_for_matryoshka_dim.
    /// </summary>
    private string? ValidateOne(int tokens, int? dimensions)
    {
        if (tokens >= ContextLength)
            return $"The input ({tokens} tokens) is longer than the model's context length ({ContextLength} tokens).";
        if (dimensions is not { } dims) return null;
        if (!Matryoshka)
            return $"Model '{ModelPath}' does not support matryoshka representation, changing output dimensions will lead to poor results.";
        if (dims < 1) return "Requested dimensions must be greater than 0";
        if (dims > HiddenSize) return $"Provided dimensions are greater than max embedding dimension: {HiddenSize}";
        return null;
    }

    /// <summary>A Matryoshka model's vector cut to <paramref name="dimensions"/> and renormalised, as SGLang's pooler does.</summary>
    private static float[] Shorten(float[] vector, int? dimensions) =>
        dimensions is { } n && n < vector.Length ? VectorMath.Truncate(vector, n) : vector;
}

/// <summary>One valid call to the double: its body and its inputs as token ids (texts tokenised as SGLang would).</summary>
public sealed record EngineCall(JsonElement Body, IReadOnlyList<int[]> Inputs);
