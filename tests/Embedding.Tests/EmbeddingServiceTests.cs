using System.Diagnostics.Metrics;
using Embedding.Api;
using Embedding.Api.Wire;
using Embedding.Api.Services;
using Embedding.Contracts;
using Embedding.Messaging;
using Embedding.Worker.Backends;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Embedding.Tests;

/// <summary>
/// The request path alone, with no broker and no Redis: the real service, cache (in-process level only) and
/// near-duplicate index, and a stand-in for the workers behind <see cref="WorkerDispatcher"/>. What is checked: each
/// distinct text reaches a worker once, cached texts never, answers come back in input order, usage counts every input.
/// </summary>
public sealed class EmbeddingServiceTests
{
    private const string Model = "tier-a";
    private const int Dimensions = 64;

    /// <summary>
    /// Answers as a worker does (EmbedTextsConsumer): one full-length vector per text, in order, packed as float32, with
    /// each text's token count; the FAKE backend's vectors and token estimate. Records every call; can refuse instead.
    /// </summary>
    private sealed class StandInWorkers(QueueInspector broker, IOptions<EmbeddingApiOptions> options, ApiMetrics metrics)
        : WorkerDispatcher(null!, broker, options, metrics, NullLogger<WorkerDispatcher>.Instance)
    {
        public List<(string Model, string[] Texts, bool Truncate, long MaxTotalTokens, EmbedPriority Priority)> Calls { get; } = [];
        public Func<IReadOnlyList<string>, EmbedRejected?> Refuse { get; set; } = _ => null;
        public OpenAIError? Fail { get; set; }

        public override Task<(TextsEmbedded? Answer, EmbedRejected? Rejected, OpenAIError? Error)> EmbedAsync(
            string model, IReadOnlyList<string> texts, bool truncate, long maxTotalTokens, EmbedPriority priority, CancellationToken ct)
        {
            Calls.Add((model, texts.ToArray(), truncate, maxTotalTokens, priority));
            if (Fail is not null) return Task.FromResult<(TextsEmbedded?, EmbedRejected?, OpenAIError?)>((null, null, Fail));
            if (Refuse(texts) is { } refusal) return Task.FromResult<(TextsEmbedded?, EmbedRejected?, OpenAIError?)>((null, refusal, null));
            var vectors = texts.Select(t => FakeBackend.VectorFor(t, Dimensions)).ToArray();
            var answer = new TextsEmbedded(Dimensions, VectorMath.Pack(vectors, Dimensions), texts.Select(TokenEstimate.Count).ToArray());
            return Task.FromResult<(TextsEmbedded?, EmbedRejected?, OpenAIError?)>((answer, null, null));
        }
    }

    private readonly StandInWorkers _workers;
    private readonly EmbeddingService _service;
    private readonly EmbeddingRequestParser _parser;

    public EmbeddingServiceTests() : this(maxTokensPerRequest: 300_000) { }

    private EmbeddingServiceTests(long maxTokensPerRequest)
    {
        var options = Options.Create(new EmbeddingApiOptions
        {
            MaxTokensPerRequest = maxTokensPerRequest,
            DefaultQueryInstruction = "Find the passage",
            Models =
            [
                new ModelOptions { Name = Model, Aliases = ["Org/Tier-A"], Dimensions = Dimensions },
                new ModelOptions { Name = "tier-b", Dimensions = Dimensions },
            ],
        });
        var broker = new QueueInspector($"amqp://guest:guest@127.0.0.1:{Infrastructure.TestEnvironment.ClosedPort()}/", "unused");  // never asked
        var meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
        var metrics = new ApiMetrics(meters, options, new QueueObserver(broker, options, NullLogger<QueueObserver>.Instance));
        _workers = new StandInWorkers(broker, options, metrics);
        _service = new EmbeddingService(new EmbeddingCache(options, metrics, NullLogger<EmbeddingCache>.Instance),
                                        new NearDuplicateIndex(options), _workers, metrics, new TierNumerics(), options);
        _parser = new EmbeddingRequestParser(options.Value);
    }

    private EmbeddingRequest Request(string json)
    {
        var (request, error) = _parser.Parse(System.Text.Encoding.UTF8.GetBytes(json));
        Assert.Null(error);
        return request!;
    }

    private async Task<EmbeddingResult> EmbedAsync(string json, EmbedPriority priority = EmbedPriority.Interactive)
    {
        var (result, error) = await _service.EmbedAsync(Request(json), CancellationToken.None, priority);
        Assert.Null(error);
        return result!;
    }

    private static string Body(params string[] inputs) => System.Text.Json.JsonSerializer.Serialize(new { model = Model, input = inputs });

    [Fact]
    public async Task Each_distinct_text_goes_to_a_worker_once_and_answers_come_back_in_input_order()
    {
        var result = await EmbedAsync(Body("b", "a", "b", "c", "a"));

        var call = Assert.Single(_workers.Calls);
        Assert.Equal(["b", "a", "c"], call.Texts);  // first appearance order, each once
        Assert.Equal(Model, call.Model);
        Assert.Equal(EmbedPriority.Interactive, call.Priority);
        Assert.Equal(["b", "a", "b", "c", "a"], result.Embeddings.Select(e => Which(e.Vector, "a", "b", "c")));
        // Usage counts every input, duplicates included, as OpenAI bills them.
        Assert.Equal(2 * TokenEstimate.Count("b") + 2 * TokenEstimate.Count("a") + TokenEstimate.Count("c"), result.PromptTokens);
    }

    [Fact]
    public async Task Cached_texts_never_reach_a_worker_and_still_count_in_usage()
    {
        await EmbedAsync(Body("alpha", "beta"));
        var mixed = await EmbedAsync(Body("gamma", "alpha", "beta"));
        var cached = await EmbedAsync(Body("beta", "alpha"));

        Assert.Equal([["alpha", "beta"], ["gamma"]], _workers.Calls.Select(c => c.Texts));  // the third request: no call at all
        Assert.Equal(["gamma", "alpha", "beta"], mixed.Embeddings.Select(e => Which(e.Vector, "alpha", "beta", "gamma")));
        Assert.Equal(["beta", "alpha"], cached.Embeddings.Select(e => Which(e.Vector, "alpha", "beta", "gamma")));
        Assert.Equal(TokenEstimate.Count("gamma") + TokenEstimate.Count("alpha") + TokenEstimate.Count("beta"), mixed.PromptTokens);
        Assert.Equal(TokenEstimate.Count("beta") + TokenEstimate.Count("alpha"), cached.PromptTokens);
    }

    [Fact]
    public async Task The_cache_is_per_model_shared_by_aliases_and_queries_are_embedded_with_their_instruction()
    {
        await EmbedAsync(Body("text"));
        await EmbedAsync("""{"model": "org/tier-a", "input": "text"}""");  // an alias: the same model, a cache hit
        await EmbedAsync("""{"model": "tier-b", "input": "text"}""");     // another model: its own vectors
        var query = await EmbedAsync("""{"model": "tier-a", "input": "text", "input_type": "query"}""");

        Assert.Equal([("tier-a", "text"), ("tier-b", "text"), ("tier-a", "Instruct: Find the passage\nQuery:text")],
                     _workers.Calls.Select(c => (c.Model, Assert.Single(c.Texts))));
        Assert.Equal(FakeBackend.VectorFor("Instruct: Find the passage\nQuery:text", Dimensions), query.Embeddings[0].Vector);
    }

    [Fact]
    public async Task The_worker_gets_the_token_budget_left_after_cached_texts_and_the_caller_s_options()
    {
        await EmbedAsync(Body("cached text"));
        await EmbedAsync("""{"model": "tier-a", "input": ["cached text", "new text"], "truncate": true}""", EmbedPriority.Batch);

        var call = _workers.Calls[1];
        Assert.Equal(["new text"], call.Texts);
        Assert.True(call.Truncate);
        Assert.Equal(EmbedPriority.Batch, call.Priority);
        Assert.Equal(300_000 - TokenEstimate.Count("cached text"), call.MaxTotalTokens);
    }

    [Fact]
    public async Task Cached_texts_over_the_request_s_token_limit_are_a_400_without_a_worker()
    {
        var text = new string('x', 30);  // 11 tokens by the estimate
        var limited = new EmbeddingServiceTests(maxTokensPerRequest: 2 * TokenEstimate.Count(text));
        await limited.EmbedAsync(Body(text));

        var (result, error) = await limited._service.EmbedAsync(limited.Request(Body(text, text, text)), CancellationToken.None);

        Assert.Null(result);
        Assert.Equal(400, error!.Status);
        Assert.Equal(TokenLimit.Code, error.Code);
        Assert.Equal("input", error.Param);
        Assert.Single(limited._workers.Calls);  // only the first request's
    }

    [Fact]
    public async Task A_worker_s_refusal_names_the_caller_s_input_not_the_worker_s()
    {
        await EmbedAsync(Body("cached"));
        _workers.Refuse = texts => new EmbedRejected(texts.ToList().IndexOf("too long"), "context_length_exceeded", $"Input {texts.ToList().IndexOf("too long")} has 9000 tokens; the limit is 8192.");

        var (result, error) = await _service.EmbedAsync(Request(Body("cached", "fine", "fine", "too long")), CancellationToken.None);

        Assert.Null(result);
        Assert.Equal(["fine", "too long"], _workers.Calls[^1].Texts);  // the worker's index 1 is the caller's input 3
        Assert.Equal(400, error!.Status);
        Assert.Equal("input[3]", error.Param);
        Assert.Equal("context_length_exceeded", error.Code);
        Assert.StartsWith("input[3]: it has 9000 tokens", error.Message);
    }

    [Fact]
    public async Task A_model_the_workers_cannot_load_is_a_503_and_no_answer_is_remembered()
    {
        _workers.Refuse = _ => new EmbedRejected(-1, EmbedRejected.ModelUnavailable, "The model 'tier-a' is unavailable: no files.");
        var (_, unavailable) = await _service.EmbedAsync(Request(Body("x")), CancellationToken.None);
        Assert.Equal(503, unavailable!.Status);
        Assert.Equal("model_unavailable", unavailable.Code);
        Assert.True(unavailable.RetryAfterSeconds > 0);

        _workers.Refuse = _ => null;
        _workers.Fail = OpenAIError.Unavailable("No embedding worker answered.", 7);
        var (_, noWorker) = await _service.EmbedAsync(Request(Body("x")), CancellationToken.None);
        Assert.Same(_workers.Fail, noWorker);  // the dispatcher's 503, with its Retry-After, as it came

        _workers.Fail = null;
        var served = await EmbedAsync(Body("x"));
        Assert.Equal(3, _workers.Calls.Count);  // nothing was cached from the failures
        Assert.Equal(FakeBackend.VectorFor("x", Dimensions), served.Embeddings[0].Vector);
    }

    /// <summary>Which of <paramref name="texts"/> the vector is the FAKE vector of.</summary>
    private static string Which(float[] vector, params string[] texts) =>
        texts.Single(t => FakeBackend.VectorFor(t, Dimensions).AsSpan().SequenceEqual(vector));
}
