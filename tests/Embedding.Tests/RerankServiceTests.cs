using System.Diagnostics.Metrics;
using System.Text;
using System.Text.Json;
using Embedding.Api;
using Embedding.Api.Services;
using Embedding.Api.Wire;
using Embedding.Contracts;
using Embedding.Messaging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Embedding.Tests;

/// <summary>
/// The rerank path alone, with no broker and no Redis: the real parser, service, cache (in-process level) and response
/// writer, and a stand-in for the reranker's workers behind <see cref="WorkerDispatcher"/>. What is checked: each
/// distinct document is scored once, cached pairs never reach a worker, results are sorted and cut as Cohere's are,
/// usage counts every document.
/// </summary>
public sealed class RerankServiceTests
{
    private const string Model = "rr-a";

    /// <summary>
    /// Answers as a reranker worker does (src/Embedding.Contracts/RerankMessages.cs): one score per document in order,
    /// tokens per pair, the numerics; the scores are <see cref="Infrastructure.ScorePairsWorkerDouble"/>'s word overlap.
    /// Records every call; can refuse or fail instead.
    /// </summary>
    private sealed class StandInRerankers(QueueInspector broker, IOptions<EmbeddingApiOptions> options, ApiMetrics metrics)
        : WorkerDispatcher(null!, broker, options, metrics, NullLogger<WorkerDispatcher>.Instance)
    {
        public List<ScorePairs> Calls { get; } = [];
        public EmbedRejected? Refusal { get; set; }
        public OpenAIError? Fail { get; set; }

        public override Task<(PairsScored? Answer, EmbedRejected? Rejected, OpenAIError? Error)> ScoreAsync(ScorePairs pairs, CancellationToken ct)
        {
            Calls.Add(pairs);
            if (Fail is not null) return Task.FromResult<(PairsScored?, EmbedRejected?, OpenAIError?)>((null, null, Fail));
            if (Refusal is not null) return Task.FromResult<(PairsScored?, EmbedRejected?, OpenAIError?)>((null, Refusal, null));
            var answer = new PairsScored(pairs.Documents.Select(d => Infrastructure.ScorePairsWorkerDouble.Score(pairs.Query, d)).ToArray(),
                                         pairs.Documents.Select(d => Infrastructure.ScorePairsWorkerDouble.Tokens(pairs, d)).ToArray(),
                                         Infrastructure.ScorePairsWorkerDouble.Numerics);
            return Task.FromResult<(PairsScored?, EmbedRejected?, OpenAIError?)>((answer, null, null));
        }
    }

    private readonly StandInRerankers _workers;
    private readonly RerankService _service;
    private readonly RerankRequestParser _parser;

    public RerankServiceTests() : this(maxTokensPerRequest: 300_000) { }

    private RerankServiceTests(long maxTokensPerRequest)
    {
        var options = Options.Create(new EmbeddingApiOptions
        {
            MaxTokensPerRequest = maxTokensPerRequest,
            Models = [new ModelOptions { Name = Model, Kind = ModelKind.Reranker, Dimensions = 1 }, new ModelOptions { Name = "rr-b", Kind = ModelKind.Reranker }],
        });
        var broker = new QueueInspector($"amqp://guest:guest@127.0.0.1:{Infrastructure.TestEnvironment.ClosedPort()}/", "unused");  // never asked
        var meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
        var metrics = new ApiMetrics(meters, options, new QueueObserver(broker, options, NullLogger<QueueObserver>.Instance));
        _workers = new StandInRerankers(broker, options, metrics);
        _service = new RerankService(new EmbeddingCache(options, metrics, NullLogger<EmbeddingCache>.Instance), _workers, metrics, new TierNumerics(), options);
        _parser = new RerankRequestParser(options.Value);
    }

    private RerankRequest Request(object body, int version = 2)
    {
        var (request, error) = _parser.Parse(JsonSerializer.SerializeToUtf8Bytes(body), version);
        Assert.Null(error);
        return request!;
    }

    private async Task<(RerankRequest Request, RerankResult Result)> RerankAsync(object body, int version = 2)
    {
        var request = Request(body, version);
        var (result, error) = await _service.RerankAsync(request, CancellationToken.None);
        Assert.True(error is null, error?.Message);
        return (request, result!);
    }

    private static JsonElement Respond(RerankRequest request, RerankResult result)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer)) RerankResponse.Write(writer, request, result, "id-1");
        return JsonDocument.Parse(buffer.ToArray()).RootElement.Clone();
    }

    private const string Query = "capital city of france";
    private static readonly string[] Documents = ["Berlin is a city", "Paris is the capital city of France", "bananas", "the capital of Spain is Madrid"];

    [Fact]
    public async Task Each_distinct_document_is_scored_once_in_one_message_and_scores_come_back_in_request_order()
    {
        var (_, result) = await RerankAsync(new { model = Model, query = Query, documents = Documents.Append(Documents[1]).ToArray() });

        var call = Assert.Single(_workers.Calls);
        Assert.Equal(Documents, call.Documents);  // the duplicate once
        Assert.Equal((Model, Query, EmbedPriority.Interactive), (call.Model, call.Query, call.Priority));
        var expected = Documents.Append(Documents[1]).Select(d => Infrastructure.ScorePairsWorkerDouble.Score(Query, d)).ToArray();
        Assert.Equal(expected, result.Scores);
        // Usage counts every document, duplicates included, as for embeddings.
        Assert.Equal(Documents.Append(Documents[1]).Sum(d => Infrastructure.ScorePairsWorkerDouble.Tokens(call, d)), result.Tokens);
    }

    [Fact]
    public async Task Cached_pairs_never_reach_a_worker_and_a_fully_cached_request_sends_nothing()
    {
        var (_, first) = await RerankAsync(new { model = Model, query = Query, documents = Documents[..2] });
        var (_, mixed) = await RerankAsync(new { model = Model, query = Query, documents = Documents });
        var (_, cached) = await RerankAsync(new { model = Model, query = Query, documents = new[] { Documents[3], Documents[0] } });

        Assert.Equal([Documents[..2], Documents[2..]], _workers.Calls.Select(c => c.Documents.ToArray()));  // the third: no call at all
        Assert.Equal(first.Scores, mixed.Scores[..2]);
        Assert.Equal(new[] { mixed.Scores[3], mixed.Scores[0] }, cached.Scores);
        Assert.True(cached.Tokens > 0);  // cached pairs still count in usage
    }

    [Fact]
    public async Task The_cache_is_keyed_by_query_instruction_pair_limit_and_model()
    {
        await RerankAsync(new { model = Model, query = Query, documents = Documents[..1] });
        await RerankAsync(new { model = Model, query = "another query", documents = Documents[..1] });
        await RerankAsync(new { model = Model, query = Query, documents = Documents[..1], instruction = "Judge relevance to geography" });
        await RerankAsync(new { model = Model, query = Query, documents = Documents[..1], max_tokens_per_doc = 64 });
        await RerankAsync(new { model = "rr-b", query = Query, documents = Documents[..1] });
        await RerankAsync(new { model = Model, query = Query, documents = Documents[..1] });  // the first again: cached

        Assert.Equal(5, _workers.Calls.Count);
        Assert.Equal([null, null, "Judge relevance to geography", null, null], _workers.Calls.Select(c => c.Instruction));
        Assert.Equal(64, _workers.Calls[3].MaxTokensPerPair);
    }

    [Fact]
    public async Task V2_results_are_sorted_by_score_cut_to_top_n_with_cohere_meta_and_usage()
    {
        var (request, result) = await RerankAsync(new { model = Model, query = Query, documents = Documents, top_n = 3 });
        var json = Respond(request, result);

        Assert.Equal("id-1", json.GetProperty("id").GetString());
        Assert.Equal(Model, json.GetProperty("model").GetString());
        var results = json.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal([1, 3, 0], results.Select(r => r.GetProperty("index").GetInt32()));  // best first
        Assert.All(results, r => Assert.False(r.TryGetProperty("document", out _)));     // return_documents defaults to false
        var scores = results.Select(r => r.GetProperty("relevance_score").GetSingle()).ToList();
        Assert.Equal(scores.OrderByDescending(s => s), scores);
        Assert.Equal(result.Scores[1], scores[0]);
        var meta = json.GetProperty("meta");
        Assert.Equal("2", meta.GetProperty("api_version").GetProperty("version").GetString());
        Assert.Equal(1, meta.GetProperty("billed_units").GetProperty("search_units").GetInt32());
        Assert.Equal(result.Tokens, meta.GetProperty("tokens").GetProperty("input_tokens").GetInt64());
        Assert.Equal(result.Tokens, json.GetProperty("usage").GetProperty("total_tokens").GetInt64());
        Assert.Equal(result.Tokens, json.GetProperty("usage").GetProperty("prompt_tokens").GetInt64());
    }

    [Fact]
    public async Task V1_returns_documents_as_sent_when_asked_and_every_result_without_top_n()
    {
        var documents = new object[] { "Berlin is a city", new { text = "Paris is the capital city of France", url = "https://example.org/paris" }, "bananas" };
        var (request, result) = await RerankAsync(new { model = Model, query = Query, documents, return_documents = true }, version: 1);
        var json = Respond(request, result);

        var results = json.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(3, results.Count);
        Assert.Equal(1, results[0].GetProperty("index").GetInt32());
        Assert.Equal("https://example.org/paris", results[0].GetProperty("document").GetProperty("url").GetString());  // every field kept
        Assert.Equal("Paris is the capital city of France", results[0].GetProperty("document").GetProperty("text").GetString());
        Assert.Equal("Berlin is a city", results[1].GetProperty("document").GetProperty("text").GetString());
        Assert.Equal("1", json.GetProperty("meta").GetProperty("api_version").GetProperty("version").GetString());
    }

    [Fact]
    public async Task Ties_keep_request_order_and_top_n_beyond_the_documents_returns_them_all()
    {
        var (request, result) = await RerankAsync(new { model = Model, query = Query, documents = new[] { "x", "y", "capital", "z" }, top_n = 10 });
        Assert.Equal([2, 0, 1, 3], RerankResponse.Ranking(request, result));
    }

    [Fact]
    public async Task A_refused_document_is_named_by_its_index_in_the_request()
    {
        _workers.Refusal = new EmbedRejected(1, EmbedRejected.InvalidInput, "The engine refused this pair.");
        var request = Request(new { model = Model, query = Query, documents = new[] { "a", "a", "b" } });  // the worker sees ["a", "b"]

        var (_, error) = await _service.RerankAsync(request, CancellationToken.None);

        Assert.Equal((400, "documents[2]"), (error!.Status, error.Param));
        _workers.Refusal = new EmbedRejected(-1, EmbedRejected.ModelUnavailable, "No model file.");
        var (_, unavailable) = await _service.RerankAsync(request, CancellationToken.None);
        Assert.Equal((503, "model_unavailable"), (unavailable!.Status, unavailable.Code));
    }

    [Fact]
    public async Task A_dispatcher_failure_is_passed_on_and_nothing_is_cached()
    {
        _workers.Fail = OpenAIError.Unavailable("No worker answered.", 7);
        var request = Request(new { model = Model, query = Query, documents = Documents });
        var (_, error) = await _service.RerankAsync(request, CancellationToken.None);
        Assert.Equal(503, error!.Status);

        _workers.Fail = null;
        await RerankAsync(new { model = Model, query = Query, documents = Documents });
        Assert.Equal(2, _workers.Calls.Count);
        Assert.Equal(Documents, _workers.Calls[1].Documents);
    }

    [Fact]
    public async Task The_request_token_limit_counts_cached_pairs_and_is_sent_to_the_worker_as_the_rest()
    {
        var tight = new RerankServiceTests(maxTokensPerRequest: 70);
        await tight.RerankAsync(new { model = Model, query = Query, documents = Documents[..1] });  // 30 + 4 + 4 tokens
        var request = tight.Request(new { model = Model, query = Query, documents = Documents[..2] });

        var (_, error) = await tight._service.RerankAsync(request, CancellationToken.None);

        Assert.Equal(70 - Infrastructure.ScorePairsWorkerDouble.Tokens(tight._workers.Calls[0], Documents[0]), tight._workers.Calls[1].MaxTotalTokens);
        Assert.Equal((400, "max_tokens_per_request", "documents"), (error!.Status, error.Code, error.Param));
    }
}
