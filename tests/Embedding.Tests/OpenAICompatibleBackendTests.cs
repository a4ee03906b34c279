using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using Embedding.Worker;
using Embedding.Worker.Backends;
using Embedding.Worker.Model;
using Microsoft.AspNetCore.Http;

namespace Embedding.Tests;

/// <summary>The SGLang-facing backend against the SGLang double: what it sends, what it makes of the answers.</summary>
public sealed class OpenAICompatibleBackendTests : IAsyncLifetime
{
    private static readonly Qwen3Tokenizer Tokenizer = new(TestEnvironment.TinyModel);
    private SglangEngineDouble _engine = null!;

    public async Task InitializeAsync() => _engine = await new SglangEngineDouble(Tokenizer).StartAsync();

    public async Task DisposeAsync() => await _engine.DisposeAsync();

    /// <summary>The worker's client of the double: context_len 64 as the engine counts it, 64-value vectors.</summary>
    private OpenAICompatibleBackend Backend(bool tokenizer = true) => new(new HttpClient(), new OpenAIBackendOptions
    {
        BaseUrl = _engine.BaseUrl, Model = _engine.ModelPath, Dimensions = _engine.HiddenSize, ContextLength = _engine.ContextLength,
    }, tokenizer ? Tokenizer : null);

    private JsonElement LastRequest() { lock (_engine.Requests) return _engine.Requests[^1]; }

    private static int[][] SentIds(JsonElement request) =>
        request.GetProperty("input").EnumerateArray().Select(seq => seq.EnumerateArray().Select(e => e.GetInt32()).ToArray()).ToArray();

    [Fact]
    public async Task Sends_the_tokenizers_ids_with_end_of_sequence_and_returns_the_engines_vectors_in_input_order()
    {
        var backend = Backend();
        string[] texts = ["hello world", "embedding"];

        var vectors = await backend.EmbedAsync(texts.Select(t => backend.Tokenize(t, false)).ToList(), CancellationToken.None);

        var sent = LastRequest();
        Assert.Equal(_engine.ModelPath, sent.GetProperty("model").GetString());
        Assert.Equal("float", sent.GetProperty("encoding_format").GetString());
        Assert.False(sent.TryGetProperty("dimensions", out _));  // SGLang refuses it for a model not configured as Matryoshka
        var ids = SentIds(sent);
        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(Tokenizer.Encode(texts[i]), ids[i]);
            Assert.Equal(Tokenizer.EndOfTextId, ids[i][^1]);
            Assert.True(VectorMath.Cosine(_engine.VectorFor(ids[i]), vectors[i]) > 0.99999);
        }
    }

    [Fact]
    public async Task Without_a_tokenizer_texts_go_as_text_and_counts_are_estimates()
    {
        var backend = Backend(tokenizer: false);
        var text = backend.Tokenize("hello world", false);

        var vectors = await backend.EmbedAsync([text], CancellationToken.None);

        Assert.Equal(["hello world"], LastRequest().GetProperty("input").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(TokenEstimate.Count("hello world"), text.TokenCount);
        Assert.True(VectorMath.Cosine(_engine.VectorFor(Tokenizer.Encode("hello world")), vectors[0]) > 0.99999);
    }

    /// <summary>SGLang refuses a whitespace-only text sent as text (serving_embedding.py); as ids it is a valid input.</summary>
    [Fact]
    public async Task A_whitespace_only_text_embeds()
    {
        var backend = Backend();

        var vectors = await backend.EmbedAsync([backend.Tokenize(" \n\t ", false)], CancellationToken.None);

        Assert.True(VectorMath.Cosine(_engine.VectorFor(Tokenizer.Encode(" \n\t ")), vectors[0]) > 0.99999);
    }

    /// <summary>SGLang refuses input_token_num &gt;= context_len (tokenizer_manager.py): the longest usable input is one less.</summary>
    [Fact]
    public async Task A_text_cut_to_the_limit_is_one_token_below_the_engines_context_length_and_the_engine_takes_it()
    {
        var backend = Backend();
        var text = string.Join(' ', Enumerable.Repeat("embedding", 100));

        var cut = backend.Tokenize(text, truncate: true);
        var vectors = await backend.EmbedAsync([cut], CancellationToken.None);

        Assert.Equal(_engine.ContextLength - 1, backend.MaxInputTokens);
        Assert.Equal(_engine.ContextLength - 1, cut.TokenCount);
        Assert.Equal(cut.TokenCount, SentIds(LastRequest())[0].Length);
        Assert.Single(vectors);
        Assert.True(backend.Tokenize(text, truncate: false).TokenCount > backend.MaxInputTokens);  // uncut: the caller refuses it
    }

    /// <summary>
    /// Cut on ids, sent as ids: the engine embeds exactly the CPU tokenizer's first ids. Decoding a cut inside a multi-byte
    /// character gives U+FFFD, whose ids are not the cut's, so a decode and re-encode would change the text and its vector.
    /// </summary>
    [Fact]
    public async Task A_truncated_text_sends_the_cpu_tokenizers_first_ids()
    {
        var backend = Backend();
        var text = string.Concat(Enumerable.Repeat("日本語のテキスト🙂 ", 20));
        var expected = Tokenizer.Truncate(Tokenizer.Encode(text), backend.MaxInputTokens);
        Assert.Contains('\uFFFD', Tokenizer.Decode(expected));  // the cut falls inside a character

        await backend.EmbedAsync([backend.Tokenize(text, truncate: true)], CancellationToken.None);

        Assert.Equal(expected, SentIds(LastRequest())[0]);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(503)]
    [InlineData(429)]
    public async Task Engine_failures_are_backend_errors(int status)
    {
        _engine.Intercept = _ => Task.FromResult<IResult?>(SglangEngineDouble.Error("busy", status));
        var backend = Backend();

        var error = await Assert.ThrowsAsync<BackendException>(() => backend.EmbedAsync([backend.Tokenize("a", false)], CancellationToken.None));
        Assert.Contains(status.ToString(), error.Message);
    }

    [Fact]
    public async Task An_engine_400_is_a_refused_input_naming_the_engines_reason()
    {
        _engine.Intercept = _ => Task.FromResult<IResult?>(SglangEngineDouble.Error("Input at index 0 is not to my liking"));
        var backend = Backend();

        var refused = await Assert.ThrowsAsync<InputRejectedException>(() => backend.EmbedAsync([backend.Tokenize("a", false)], CancellationToken.None));
        Assert.Equal("Input at index 0 is not to my liking", refused.Reason);
    }

    [Fact]
    public async Task Missing_vectors_are_backend_errors()
    {
        _engine.Intercept = call => Task.FromResult<IResult?>(_engine.Answer([_engine.VectorFor(call.Inputs[0])], call.Inputs[0].Length));
        var backend = Backend();

        await Assert.ThrowsAsync<BackendException>(() =>
            backend.EmbedAsync([backend.Tokenize("a", false), backend.Tokenize("b", false)], CancellationToken.None));
    }

    [Fact]
    public async Task Unreachable_engine_is_an_error_not_a_hang()
    {
        var backend = new OpenAICompatibleBackend(new HttpClient { Timeout = TimeSpan.FromSeconds(5) }, new OpenAIBackendOptions
        {
            BaseUrl = new Uri($"http://127.0.0.1:{TestEnvironment.ClosedPort()}"), Model = "m", Dimensions = 4,
        }, tokenizer: null);
        await Assert.ThrowsAnyAsync<Exception>(() => backend.EmbedAsync([backend.Tokenize("a", false)], CancellationToken.None));
    }

    /// <summary>The double refuses what SGLang refuses, with SGLang's flat error body and status (the worker's tests rely on it).</summary>
    [Theory]
    [InlineData("{\"model\":\"m\",\"input\":\"   \"}", "Input cannot be empty or whitespace only")]
    [InlineData("{\"model\":\"m\",\"input\":[\"ok\",\"\\n\"]}", "Input at index 1 cannot be empty or whitespace only")]
    [InlineData("{\"model\":\"m\",\"input\":\"hello\",\"dimensions\":32}", "does not support matryoshka representation")]
    [InlineData("{\"model\":\"m\",\"input\":[[1,2],[]]}", "Input at index 1 cannot be empty")]
    public async Task The_double_refuses_what_sglang_refuses_with_its_flat_error_body(string body, string message)
    {
        using var http = new HttpClient { BaseAddress = _engine.BaseUrl };
        using var response = await http.PostAsync("v1/embeddings", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("error", error.GetProperty("object").GetString());
        Assert.Contains(message, error.GetProperty("message").GetString());
        Assert.Equal("BadRequestError", error.GetProperty("type").GetString());
        Assert.Equal(400, error.GetProperty("code").GetInt32());
        Assert.False(error.TryGetProperty("error", out _));
    }

    [Fact]
    public async Task The_double_refuses_an_input_of_context_len_tokens_and_takes_one_fewer_counting_usage_as_sglang()
    {
        using var http = new HttpClient { BaseAddress = _engine.BaseUrl };
        var atLimit = Enumerable.Range(1, _engine.ContextLength).ToArray();

        var refused = await http.PostAsJsonAsync("v1/embeddings", new { model = "m", input = new[] { atLimit } });
        var taken = await http.PostAsJsonAsync("v1/embeddings", new { model = "m", input = new[] { atLimit[1..], [7, 8] }, encoding_format = "base64" });

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains($"The input ({_engine.ContextLength} tokens) is longer than the model's context length ({_engine.ContextLength} tokens).",
            (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("message").GetString());
        Assert.Equal(HttpStatusCode.OK, taken.StatusCode);
        var answer = await taken.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(_engine.ContextLength - 1 + 2, answer.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(_engine.ModelPath, answer.GetProperty("model").GetString());
        Assert.Equal(JsonValueKind.Array, answer.GetProperty("data")[0].GetProperty("embedding").ValueKind);  // floats, whatever encoding_format says
    }
}
