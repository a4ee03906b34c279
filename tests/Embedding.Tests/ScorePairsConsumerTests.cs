using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using Embedding.Worker;
using Embedding.Worker.Backends;
using Embedding.Worker.Batching;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Embedding.Tests;

/// <summary>
/// A reranker worker's consumers on MassTransit's in-memory test harness (no broker): the real consumer, batcher and
/// ONNX reranker on the tiny Qwen3 reranker, answering as the official scoring does; refusals before any model time.
/// </summary>
public sealed class ScorePairsConsumerTests : IDisposable
{
    private const string Model = "rerank-a";
    private static readonly string Directory = Path.Combine(TestEnvironment.RepoRoot, "models", "qwen3-reranker-tiny");
    private readonly OnnxQwen3Reranker _onnx = new(Directory, new OnnxBackendOptions { IntraOpThreads = 1 });

    public void Dispose() => _onnx.Dispose();

    /// <summary>Counts the batches that reach the reranker, so a refusal can be shown to have cost no model time.</summary>
    private sealed class CountingReranker(IRerankerBackend inner) : IRerankerBackend
    {
        private int _batches;
        public int Batches => Volatile.Read(ref _batches);
        public int MaxInputTokens => inner.MaxInputTokens;
        public string Numerics => inner.Numerics;
        public bool PadsBatches => inner.PadsBatches;
        public TokenizedText Tokenize(string? instruction, string query, string document, int maxTokens = int.MaxValue) =>
            inner.Tokenize(instruction, query, document, maxTokens);
        public int TokensWithoutDocument(string? instruction, string query) => inner.TokensWithoutDocument(instruction, query);
        public Task<float[]> ScoreAsync(IReadOnlyList<TokenizedText> batch, CancellationToken ct)
        {
            Interlocked.Increment(ref _batches);
            return inner.ScoreAsync(batch, ct);
        }
    }

    /// <summary>Sends one message to a worker's consumers, as the API does (request/response), and returns the answer.</summary>
    private static async Task<Response<TAnswer, EmbedRejected>> AskAsync<TMessage, TAnswer>(IRerankerBackend reranker, TMessage message,
                                                                                            ModelKind kind = ModelKind.Reranker, int maxBatchTokens = 8192)
        where TMessage : class where TAnswer : class
    {
        IEmbeddingBackend batched = reranker is UnavailableBackend u ? u : new RerankerBatches(reranker);
        var services = new ServiceCollection()
            .AddLogging()
            .AddMetrics()
            .AddSingleton(Options.Create(new WorkerOptions { Model = Model, Kind = kind, MaxWaitMilliseconds = 0, MaxBatchTokens = maxBatchTokens }))
            .AddSingleton(reranker)
            .AddSingleton(batched)
            .AddSingleton<WorkerMetrics>()
            .AddSingleton<TokenBudgetBatcher>()
            .AddMassTransitTestHarness(x =>
            {
                x.AddConsumer<ScorePairsConsumer>();
                x.AddConsumer<EmbedTextsConsumer>();
            });
        await using var provider = services.BuildServiceProvider(validateScopes: true);
        var batcher = provider.GetRequiredService<TokenBudgetBatcher>();
        await batcher.StartAsync(CancellationToken.None);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        try
        {
            return await harness.GetRequestClient<TMessage>().GetResponse<TAnswer, EmbedRejected>(message);
        }
        finally
        {
            await harness.Stop();
            await batcher.StopAsync(CancellationToken.None);
        }
    }

    private static Task<Response<PairsScored, EmbedRejected>> ScoreAsync(IRerankerBackend reranker, ScorePairs message,
                                                                          ModelKind kind = ModelKind.Reranker, int maxBatchTokens = 8192) =>
        AskAsync<ScorePairs, PairsScored>(reranker, message, kind, maxBatchTokens);

    private static PairsScored Scored(Response<PairsScored, EmbedRejected> response)
    {
        Assert.True(response.Is(out Response<PairsScored>? scored), response.Is(out Response<EmbedRejected>? r) ? $"rejected: {r.Message.Code} {r.Message.Message}" : "no answer");
        return scored.Message;
    }

    private static EmbedRejected Rejected<T>(Response<T, EmbedRejected> response) where T : class
    {
        Assert.True(response.Is(out Response<EmbedRejected>? rejected), "expected a refusal");
        return rejected.Message;
    }

    [Theory]
    [InlineData(8192)]  // all pairs in one batch
    [InlineData(128)]   // a batch or two pairs at a time: the batcher's cut changes no score
    public async Task Pairs_are_scored_in_order_as_the_official_code_scores_them(int maxBatchTokens)
    {
        var group = RerankerTests.Cases.Where(c => c.MaxLength == 8192 && c.Query == RerankerTests.Cases[0].Query && c.Instruction is null).ToList();
        var counting = new CountingReranker(_onnx);

        var answer = Scored(await ScoreAsync(counting, new ScorePairs(Model.ToUpperInvariant(), null, group[0].Query, group.Select(c => c.Document).ToList()),
                                              maxBatchTokens: maxBatchTokens));

        Assert.Equal(group.Count, answer.Scores.Length);
        for (var i = 0; i < group.Count; i++)
            Assert.True(Math.Abs(answer.Scores[i] - group[i].Score) < 1e-4, $"document {i}: {answer.Scores[i]} vs transformers {group[i].Score}");
        Assert.Equal(group.Select(c => c.Ids.Length), answer.TokenCounts);
        Assert.Equal(_onnx.Numerics, answer.Numerics);
        if (maxBatchTokens < 8192) Assert.True(counting.Batches >= group.Count / 2, $"{counting.Batches} batches");
    }

    [Fact]
    public async Task The_message_s_instruction_and_pair_limit_are_the_model_s_prompt_and_truncation()
    {
        var own = RerankerTests.Cases.First(c => c.Instruction is not null && c.MaxLength == 8192);
        var cut = RerankerTests.Cases.Where(c => c.MaxLength == 256).ToList();

        var instructed = Scored(await ScoreAsync(_onnx, new ScorePairs(Model, own.Instruction, own.Query, [own.Document])));
        var truncated = Scored(await ScoreAsync(_onnx, new ScorePairs(Model, null, cut[0].Query, cut.Select(c => c.Document).ToList(), MaxTokensPerPair: 256)));

        Assert.True(Math.Abs(instructed.Scores[0] - own.Score) < 1e-4, $"{instructed.Scores[0]} vs {own.Score}");
        Assert.Equal(cut.Select(c => c.Ids.Length), truncated.TokenCounts);
        Assert.Contains(256, truncated.TokenCounts);  // the long document was cut to the limit, not refused
        for (var i = 0; i < cut.Count; i++) Assert.True(Math.Abs(truncated.Scores[i] - cut[i].Score) < 1e-4);
    }

    [Fact]
    public async Task No_documents_get_no_scores()
    {
        var answer = Scored(await ScoreAsync(_onnx, new ScorePairs(Model, null, "q", [])));
        Assert.Empty(answer.Scores);
        Assert.Empty(answer.TokenCounts);
    }

    [Fact]
    public async Task A_query_that_leaves_no_room_for_a_document_is_refused_before_any_model_time()
    {
        var counting = new CountingReranker(_onnx);
        var query = string.Join(' ', Enumerable.Repeat("capital", 80));
        var bare = _onnx.TokensWithoutDocument(null, query);

        var refusal = Rejected(await ScoreAsync(counting, new ScorePairs(Model, null, query, ["a", "b"], MaxTokensPerPair: bare - 1)));

        Assert.Equal("context_length_exceeded", refusal.Code);
        Assert.Equal(-1, refusal.Index);
        Assert.Contains($"{bare} tokens", refusal.Message);
        Assert.Equal(0, counting.Batches);
    }

    [Fact]
    public async Task Pairs_over_the_request_s_token_budget_together_are_refused_before_any_model_time()
    {
        string[] documents = ["The capital of China is Beijing.", "Gravity is a force."];
        var total = documents.Sum(d => _onnx.Tokenize(null, "q", d).TokenCount);
        var counting = new CountingReranker(_onnx);

        var refusal = Rejected(await ScoreAsync(counting, new ScorePairs(Model, null, "q", documents, MaxTotalTokens: total - 1)));
        Assert.Equal(TokenLimit.Code, refusal.Code);
        Assert.Equal(0, counting.Batches);

        var exactly = Scored(await ScoreAsync(counting, new ScorePairs(Model, null, "q", documents, MaxTotalTokens: total)));
        Assert.Equal(total, exactly.TokenCounts.Sum());
    }

    [Fact]
    public async Task A_message_for_another_tier_is_refused_as_model_not_found()
    {
        var refusal = Rejected(await ScoreAsync(_onnx, new ScorePairs("rerank-b", null, "q", ["d"])));
        Assert.Equal("model_not_found", refusal.Code);
        Assert.Contains("'rerank-b'", refusal.Message);
    }

    [Fact]
    public async Task A_reranker_worker_refuses_texts_to_embed_and_an_embedding_worker_refuses_pairs()
    {
        var counting = new CountingReranker(_onnx);
        var embed = Rejected(await AskAsync<EmbedTexts, TextsEmbedded>(counting, new EmbedTexts(Model, ["x"])));
        var score = Rejected(await ScoreAsync(counting, new ScorePairs(Model, null, "q", ["d"]), kind: ModelKind.Embedding));

        Assert.Equal(ScorePairsConsumer.WrongModelKind, embed.Code);
        Assert.Contains("reranker", embed.Message);
        Assert.Equal(ScorePairsConsumer.WrongModelKind, score.Code);
        Assert.Contains("embedding model", score.Message);
        Assert.Equal(0, counting.Batches);
    }

    [Fact]
    public async Task A_reranker_worker_without_its_model_answers_model_unavailable_with_the_reason()
    {
        var refusal = Rejected(await ScoreAsync(new UnavailableBackend("no such repository (404)"), new ScorePairs(Model, null, "q", ["d"])));
        Assert.Equal(EmbedRejected.ModelUnavailable, refusal.Code);
        Assert.Contains("no such repository (404)", refusal.Message);
    }

    [Fact]
    public async Task The_fake_reranker_scores_word_overlap_deterministically()
    {
        var fake = new FakeReranker(new FakeBackendOptions());
        string[] documents = ["Beijing is the capital of China", "the capital of France", "nothing here", "CHINA capital"];

        var answer = Scored(await ScoreAsync(fake, new ScorePairs(Model, null, "capital of China?", documents)));

        Assert.Equal([1f, 2f / 3, 0f, 2f / 3], answer.Scores);
        Assert.Equal(BackendNumerics.Fake, answer.Numerics);
        Assert.All(answer.TokenCounts, t => Assert.True(t > fake.TokensWithoutDocument(null, "capital of China?") - 1));
    }
}
