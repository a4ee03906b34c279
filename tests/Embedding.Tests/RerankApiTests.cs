using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Embedding.Api;
using Embedding.Tests.Infrastructure;

namespace Embedding.Tests;

/// <summary>
/// POST /v1/rerank and /v2/rerank through the real API, RabbitMQ and Redis, with the reranker tier's workers played by
/// <see cref="ScorePairsWorkerDouble"/> (a MassTransit consumer of ScorePairs on the tier's real queue): the wire shapes
/// Cohere's and Jina's clients read, the cache in front of the queue, keys, limits and errors.
/// </summary>
public sealed class RerankApiTests
{
    private const string AliceKey = "sk-emb-alice-rerank-51c2";

    private const string Query = "What is the capital of the United States?";

    // Cohere's own example documents (docs.cohere.com/reference/rerank).
    private static readonly string[] Documents =
    [
        "Carson City is the capital city of the American state of Nevada.",
        "The Commonwealth of the Northern Mariana Islands is a group of islands in the Pacific Ocean. Its capital is Saipan.",
        "Capitalization or capitalisation in English grammar is the use of a capital letter at the start of a word.",
        "Washington, D.C. (also known as simply Washington or D.C., and officially as the District of Columbia) is the capital of the United States.",
        "Capital punishment has existed in the United States since before the United States was a country.",
    ];

    /// <summary>An API serving an embedding model (stack.Model) and a reranker (stack.Model + "-rr"), no embedding workers.</summary>
    private static EmbeddingStack Stack(Dictionary<string, string?>? api = null, string? redis = "default", int requestTimeoutSeconds = 30)
    {
        var model = EmbeddingStack.NewModelName();
        var settings = new Dictionary<string, string?>
        {
            ["Api:Models:2:Name"] = model + "-rr",
            ["Api:Models:2:Kind"] = "Reranker",
            ["Api:Models:2:Aliases:0"] = "Qwen/Qwen3-Reranker-Test-" + model,
        };
        foreach (var (k, v) in api ?? []) settings[k] = v;
        return new EmbeddingStack(backend: "Fake", workers: 0, model: model, api: settings, redis: redis, requestTimeoutSeconds: requestTimeoutSeconds);
    }

    private static string Reranker(EmbeddingStack stack) => stack.Model + "-rr";

    private static async Task<JsonElement> PostOk(HttpClient client, string path, object body)
    {
        using var response = await client.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static int[] ExpectedRanking(string query, IReadOnlyList<string> documents) =>
        Enumerable.Range(0, documents.Count).OrderByDescending(i => ScorePairsWorkerDouble.Score(query, documents[i])).ThenBy(i => i).ToArray();

    /// <summary>
    /// What LangChain's CohereRerank sends (langchain_cohere/rerank.py: cohere.ClientV2(..., client_name="langchain:partner",
    /// base_url=...).rerank(query=..., documents=[str], model=..., top_n=3)): POST {base_url}/v2/rerank with the Cohere SDK's
    /// headers (src/cohere/core/client_wrapper.py) and a body without the fields left unset. The answer must parse the way
    /// the SDK and LangChain read it: results[].index and relevance_score, best first.
    /// </summary>
    [Fact]
    public async Task A_cohere_sdk_request_as_langchain_sends_it_gets_a_well_formed_ranked_answer()
    {
        await using var stack = Stack(api: new()
        {
            ["Api:Auth:Keys:0:Name"] = "alice",
            ["Api:Auth:Keys:0:Sha256"] = ApiKeyOptions.Hash(AliceKey),
        });
        await using var worker = await ScorePairsWorkerDouble.StartAsync(Reranker(stack));
        var client = stack.NewClient();
        var body = JsonSerializer.Serialize(new { model = Reranker(stack), query = Query, documents = Documents, top_n = 3 });
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v2/rerank") { Content = new StringContent(body, Encoding.UTF8) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("X-Fern-Language", "Python");
        request.Headers.TryAddWithoutValidation("X-Fern-SDK-Name", "cohere");
        request.Headers.TryAddWithoutValidation("X-Fern-SDK-Version", "5.1.6");
        request.Headers.TryAddWithoutValidation("X-Client-Name", "langchain:partner");
        request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {AliceKey}");
        request.Headers.TryAddWithoutValidation("User-Agent", "python-httpx/0.27.0");
        request.Headers.TryAddWithoutValidation("Accept", "*/*");
        request.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip, deflate");

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.True(Guid.TryParse(json.GetProperty("id").GetString(), out _));
        var results = json.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(ExpectedRanking(Query, Documents).Take(3), results.Select(r => r.GetProperty("index").GetInt32()));
        Assert.Equal(3, results[0].GetProperty("index").GetInt32());  // Washington, as Cohere's own model ranks it
        foreach (var r in results)
            Assert.Equal(ScorePairsWorkerDouble.Score(Query, Documents[r.GetProperty("index").GetInt32()]), r.GetProperty("relevance_score").GetSingle());
        Assert.Equal("2", json.GetProperty("meta").GetProperty("api_version").GetProperty("version").GetString());
        Assert.Equal(1, json.GetProperty("meta").GetProperty("billed_units").GetProperty("search_units").GetInt32());
        // One ScorePairs for the request, all five documents, the model's default instruction.
        var sent = Assert.Single(worker.Received);
        Assert.Equal(Documents, sent.Documents);
        Assert.Null(sent.Instruction);
    }

    /// <summary>LiteLLM's and Jina's shape on /v1/rerank: objects with text, return_documents, usage.total_tokens.</summary>
    [Fact]
    public async Task V1_with_return_documents_answers_the_documents_as_sent_and_the_tokens_used()
    {
        await using var stack = Stack();
        await using var worker = await ScorePairsWorkerDouble.StartAsync(Reranker(stack));
        var documents = Documents.Select((d, i) => new { text = d, id = $"doc-{i}" }).ToArray();

        var json = await PostOk(stack.Client, "/v1/rerank", new
        {
            model = "Qwen/Qwen3-Reranker-Test-" + stack.Model, query = Query, documents, return_documents = true,
            instruction = "Given a question, find the passage that answers it",
        });

        var results = json.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(ExpectedRanking(Query, Documents), results.Select(r => r.GetProperty("index").GetInt32()));
        Assert.All(results, r => Assert.Equal($"doc-{r.GetProperty("index").GetInt32()}", r.GetProperty("document").GetProperty("id").GetString()));
        Assert.All(results, r => Assert.Equal(Documents[r.GetProperty("index").GetInt32()], r.GetProperty("document").GetProperty("text").GetString()));
        var sent = Assert.Single(worker.Received);
        var tokens = sent.Documents.Sum(d => ScorePairsWorkerDouble.Tokens(sent, d));
        Assert.Equal(tokens, json.GetProperty("usage").GetProperty("total_tokens").GetInt32());
        Assert.Equal(tokens, json.GetProperty("meta").GetProperty("tokens").GetProperty("input_tokens").GetInt32());
        Assert.Equal("1", json.GetProperty("meta").GetProperty("api_version").GetProperty("version").GetString());
        Assert.Equal("Given a question, find the passage that answers it", sent.Instruction);
        Assert.Equal(new EmbeddingApiOptions().MaxTokensPerInput, sent.MaxTokensPerPair);
    }

    /// <summary>
    /// The second identical request is answered from the cache without a message on the queue; after an API restart
    /// (its in-process level gone) Redis answers it; of a request with one new document, that document alone goes to the worker.
    /// </summary>
    [Fact]
    public async Task A_repeated_request_is_served_from_the_cache_without_touching_the_queue()
    {
        // The tier names its numerics, so a fresh API process looks them up before any worker has answered it.
        await using var stack = Stack(api: new() { ["Api:Models:2:Numerics"] = ScorePairsWorkerDouble.Numerics });
        await using var worker = await ScorePairsWorkerDouble.StartAsync(Reranker(stack));
        var body = new { model = Reranker(stack), query = Query, documents = Documents };

        var first = await PostOk(stack.Client, "/v2/rerank", body);
        var second = await PostOk(stack.Client, "/v2/rerank", body);
        await stack.RestartApiAsync();
        var fromRedis = await PostOk(stack.Client, "/v1/rerank", body);

        Assert.Single(worker.Received);
        string Results(JsonElement j) => j.GetProperty("results").GetRawText();
        Assert.Equal(Results(first), Results(second));
        Assert.Equal(Results(first), Results(fromRedis));
        Assert.Equal(first.GetProperty("usage").GetRawText(), second.GetProperty("usage").GetRawText());

        await PostOk(stack.Client, "/v2/rerank", new { model = Reranker(stack), query = Query, documents = Documents.Append("A new passage about Washington.").ToArray() });
        Assert.Equal(2, worker.Received.Count);
        Assert.Equal(["A new passage about Washington."], worker.Received.Last().Documents);
    }

    [Fact]
    public async Task Rerank_tokens_count_toward_the_keys_tokens_per_minute()
    {
        await using var stack = Stack(redis: null, api: new()
        {
            ["Api:Auth:Keys:0:Name"] = "alice",
            ["Api:Auth:Keys:0:Sha256"] = ApiKeyOptions.Hash(AliceKey),
            ["Api:Auth:Keys:0:TokensPerMinute"] = "100",
        });
        await using var worker = await ScorePairsWorkerDouble.StartAsync(Reranker(stack));
        var client = stack.NewClient(AliceKey);

        var first = await PostOk(client, "/v2/rerank", new { model = Reranker(stack), query = Query, documents = Documents });
        Assert.True(first.GetProperty("usage").GetProperty("total_tokens").GetInt32() > 100);
        using var second = await client.PostAsJsonAsync("/v2/rerank", new { model = Reranker(stack), query = Query, documents = Documents[..1] });

        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        var error = (await second.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
        Assert.Equal(("tokens", "rate_limit_exceeded"), (error.GetProperty("type").GetString(), error.GetProperty("code").GetString()));
        Assert.True(second.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        // Embedding requests share the balance: the key is out of tokens for both.
        using var embed = await client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "x" });
        Assert.Equal(HttpStatusCode.TooManyRequests, embed.StatusCode);
    }

    [Fact]
    public async Task Keys_models_and_kinds_are_checked_with_openai_style_errors()
    {
        await using var stack = Stack(redis: null, requestTimeoutSeconds: 2, api: new()
        {
            ["Api:Auth:Keys:0:Name"] = "alice",
            ["Api:Auth:Keys:0:Sha256"] = ApiKeyOptions.Hash(AliceKey),
            ["Api:Auth:Keys:0:Models:0"] = "embedding-only",
            ["Api:Auth:Keys:1:Name"] = "bob",
            ["Api:Auth:Keys:1:Sha256"] = ApiKeyOptions.Hash(AliceKey + "-bob"),
            ["Api:MaxRequestBodyBytes"] = "4096",
        });
        var anonymous = stack.NewClient();
        var alice = stack.NewClient(AliceKey);
        var bob = stack.NewClient(AliceKey + "-bob");
        var rerank = new { model = Reranker(stack), query = Query, documents = Documents };

        async Task<(HttpStatusCode, string?, string?)> Error(HttpClient client, string path, object body)
        {
            using var response = await client.PostAsJsonAsync(path, body);
            var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
            return (response.StatusCode, error.GetProperty("param").GetString(), error.GetProperty("code").GetString());
        }

        Assert.Equal((HttpStatusCode.Unauthorized, null, "invalid_api_key"), await Error(anonymous, "/v2/rerank", rerank));
        Assert.Equal((HttpStatusCode.Unauthorized, null, "invalid_api_key"), await Error(anonymous, "/v1/rerank", rerank));
        Assert.Equal((HttpStatusCode.NotFound, "model", "model_not_found"), await Error(alice, "/v2/rerank", rerank));  // not this key's model
        Assert.Equal((HttpStatusCode.NotFound, "model", "model_not_found"), await Error(bob, "/v1/rerank", new { model = "nope", query = "q", documents = new[] { "d" } }));
        Assert.Equal((HttpStatusCode.BadRequest, "model", "model_not_supported"), await Error(bob, "/v1/rerank", new { model = stack.Model, query = "q", documents = new[] { "d" } }));
        Assert.Equal((HttpStatusCode.BadRequest, "model", "model_not_supported"), await Error(bob, "/v1/embeddings", new { model = Reranker(stack), input = "text" }));
        Assert.Equal((HttpStatusCode.BadRequest, "top_n", null), await Error(bob, "/v2/rerank", new { model = Reranker(stack), query = "q", documents = new[] { "d" }, top_n = 0 }));
        Assert.Equal((HttpStatusCode.RequestEntityTooLarge, null, "request_too_large"),
                     await Error(bob, "/v2/rerank", new { model = Reranker(stack), query = "q", documents = Enumerable.Repeat(new string('x', 100), 50).ToArray() }));
        // No worker consumes the tier's queue: 503 with Retry-After after the request timeout, never a 500.
        using var waiting = await bob.PostAsJsonAsync("/v2/rerank", new { model = Reranker(stack), query = "q " + Guid.NewGuid(), documents = new[] { "d" } });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, waiting.StatusCode);
        Assert.NotNull(waiting.Headers.RetryAfter);
    }

    [Fact]
    public async Task Models_lists_the_reranker_with_its_kind()
    {
        await using var stack = Stack(redis: null);

        var list = await stack.Client.GetFromJsonAsync<JsonElement>("/v1/models");
        var models = list.GetProperty("data").EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!);
        Assert.Equal("reranker", models[Reranker(stack)].GetProperty("kind").GetString());
        Assert.False(models[Reranker(stack)].TryGetProperty("dimensions", out _));
        Assert.Equal("embedding", models[stack.Model].GetProperty("kind").GetString());
        var one = await stack.Client.GetFromJsonAsync<JsonElement>($"/v1/models/{Reranker(stack)}");
        Assert.Equal("reranker", one.GetProperty("kind").GetString());
    }
}
