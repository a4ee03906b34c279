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
/// The worker's consumer alone, on MassTransit's in-memory test harness (no broker): the real consumer, batcher and ONNX
/// backend on the tiny model. Requests it must refuse are answered before any model time is spent.
/// </summary>
public sealed class EmbedTextsConsumerTests : IDisposable
{
    private const string Model = "tier-a";
    private const int ModelMaxTokens = 16;

    private readonly OnnxQwen3Backend _onnx = new(TestEnvironment.TinyModel, new OnnxBackendOptions { MaxInputTokens = ModelMaxTokens, IntraOpThreads = 1 });

    public void Dispose() => _onnx.Dispose();

    /// <summary>Counts the batches that reach the backend, so a refusal can be shown to have cost no model time.</summary>
    private sealed class CountingBackend(IEmbeddingBackend inner) : IEmbeddingBackend
    {
        private int _batches;
        public int Batches => Volatile.Read(ref _batches);
        public int Dimensions => inner.Dimensions;
        public string Numerics => inner.Numerics;
        public int MaxInputTokens => inner.MaxInputTokens;
        public bool PadsBatches => inner.PadsBatches;
        public TokenizedText Tokenize(string text, bool truncate, int maxTokens = int.MaxValue) => inner.Tokenize(text, truncate, maxTokens);
        public Task<float[][]> EmbedAsync(IReadOnlyList<TokenizedText> batch, CancellationToken ct)
        {
            Interlocked.Increment(ref _batches);
            return inner.EmbedAsync(batch, ct);
        }
    }

    /// <summary>Sends one message to the consumer, as the API does (request/response), and returns the answer.</summary>
    private static async Task<Response<TextsEmbedded, EmbedRejected>> AskAsync(IEmbeddingBackend backend, EmbedTexts message)
    {
        var services = new ServiceCollection()
            .AddLogging()
            .AddMetrics()
            .AddSingleton(Options.Create(new WorkerOptions { Model = Model, MaxWaitMilliseconds = 0 }))
            .AddSingleton(backend)
            .AddSingleton<WorkerMetrics>()
            .AddSingleton<TokenBudgetBatcher>()
            .AddMassTransitTestHarness(x => x.AddConsumer<EmbedTextsConsumer>());
        await using var provider = services.BuildServiceProvider(validateScopes: true);
        var batcher = provider.GetRequiredService<TokenBudgetBatcher>();
        await batcher.StartAsync(CancellationToken.None);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        try
        {
            var response = await harness.GetRequestClient<EmbedTexts>().GetResponse<TextsEmbedded, EmbedRejected>(message);
            Assert.True(await harness.Consumed.Any<EmbedTexts>());
            return response;
        }
        finally
        {
            await harness.Stop();
            await batcher.StopAsync(CancellationToken.None);
        }
    }

    private static TextsEmbedded Embedded(Response<TextsEmbedded, EmbedRejected> response)
    {
        Assert.True(response.Is(out Response<TextsEmbedded>? embedded), response.Is(out Response<EmbedRejected>? r) ? $"rejected: {r.Message}" : "no answer");
        return embedded.Message;
    }

    private static EmbedRejected Rejected(Response<TextsEmbedded, EmbedRejected> response)
    {
        Assert.True(response.Is(out Response<EmbedRejected>? rejected), "expected a refusal, got vectors");
        return rejected.Message;
    }

    /// <summary>The backend's vector for <paramref name="text"/> embedded alone, as the worker would cut it.</summary>
    private async Task<float[]> Alone(string text, bool truncate = false, int limit = ModelMaxTokens) =>
        (await _onnx.EmbedAsync([_onnx.Tokenize(text, truncate, limit)], CancellationToken.None))[0];

    private static void AssertClose(float[] expected, ReadOnlySpan<byte> packed)
    {
        var actual = VectorMath.Unpack(packed);
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < actual.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-4, $"value {i}: {actual[i]} != {expected[i]}");
    }

    [Fact]
    public async Task Texts_are_answered_in_order_with_their_vectors_and_token_counts()
    {
        string[] texts = ["the first text", "a second one", "3"];
        var answer = Embedded(await AskAsync(_onnx, new EmbedTexts(Model.ToUpperInvariant(), texts)));  // tier names match in any case

        Assert.Equal(_onnx.Dimensions, answer.Dimensions);
        Assert.Equal(texts.Select(t => _onnx.Tokenize(t, false).TokenCount), answer.TokenCounts);
        var width = answer.Dimensions * sizeof(float);
        Assert.Equal(texts.Length * width, answer.Vectors.Length);
        for (var i = 0; i < texts.Length; i++) AssertClose(await Alone(texts[i]), answer.Vectors.AsSpan(i * width, width));
    }

    [Fact]
    public async Task A_message_for_another_tier_is_refused_as_model_not_found()
    {
        var backend = new CountingBackend(_onnx);
        var refusal = Rejected(await AskAsync(backend, new EmbedTexts("tier-b", ["x"])));

        Assert.Equal("model_not_found", refusal.Code);
        Assert.Equal(-1, refusal.Index);
        Assert.Contains("'tier-a'", refusal.Message);
        Assert.Contains("'tier-b'", refusal.Message);
        Assert.Equal(0, backend.Batches);
    }

    [Theory]
    [InlineData(6)]               // the request's own limit (the API's MaxTokensPerInput)
    [InlineData(0)]               // none given: the model's context
    [InlineData(ModelMaxTokens * 4)]  // more than the model has: the model's context
    public async Task An_input_over_the_limit_is_refused_naming_its_index_before_any_model_time(int maxTokensPerInput)
    {
        var limit = maxTokensPerInput is > 0 and < ModelMaxTokens ? maxTokensPerInput : ModelMaxTokens;
        var longText = string.Join(' ', Enumerable.Repeat("word", 40));
        var tokens = _onnx.Tokenize(longText, false).TokenCount;
        Assert.True(tokens > ModelMaxTokens);
        var backend = new CountingBackend(_onnx);

        var refusal = Rejected(await AskAsync(backend, new EmbedTexts(Model, ["short", longText], MaxTokensPerInput: maxTokensPerInput)));

        Assert.Equal("context_length_exceeded", refusal.Code);
        Assert.Equal(1, refusal.Index);
        Assert.Contains($"{tokens} tokens", refusal.Message);
        Assert.Contains($"limit is {limit}", refusal.Message);
        Assert.Contains("truncate", refusal.Message);
        Assert.Equal(0, backend.Batches);
    }

    [Fact]
    public async Task Truncate_cuts_a_long_input_to_the_limit_and_embeds_what_is_left()
    {
        var longText = string.Join(' ', Enumerable.Repeat("word", 40));

        var answer = Embedded(await AskAsync(_onnx, new EmbedTexts(Model, [longText, "short"], Truncate: true, MaxTokensPerInput: 6)));

        Assert.Equal([6, _onnx.Tokenize("short", false).TokenCount], answer.TokenCounts);
        var width = answer.Dimensions * sizeof(float);
        AssertClose(await Alone(longText, truncate: true, limit: 6), answer.Vectors.AsSpan(0, width));
        AssertClose(await Alone("short"), answer.Vectors.AsSpan(width, width));
    }

    [Fact]
    public async Task Inputs_over_the_request_s_token_budget_together_are_refused_before_any_model_time()
    {
        string[] texts = ["one text here", "and another text"];
        var total = texts.Sum(t => _onnx.Tokenize(t, false).TokenCount);
        var backend = new CountingBackend(_onnx);

        var refusal = Rejected(await AskAsync(backend, new EmbedTexts(Model, texts, MaxTotalTokens: total - 1)));
        Assert.Equal(TokenLimit.Code, refusal.Code);
        Assert.Equal(-1, refusal.Index);
        Assert.Contains($"{total} tokens", refusal.Message);
        Assert.Equal(0, backend.Batches);

        var exactly = Embedded(await AskAsync(backend, new EmbedTexts(Model, texts, MaxTotalTokens: total)));  // at the budget: served
        Assert.Equal(total, exactly.TokenCounts.Sum());
    }

    [Fact]
    public async Task A_worker_without_its_model_answers_model_unavailable_with_the_reason()
    {
        var refusal = Rejected(await AskAsync(new UnavailableBackend("the download was refused (401)"), new EmbedTexts(Model, ["x"])));

        Assert.Equal(EmbedRejected.ModelUnavailable, refusal.Code);
        Assert.Equal(-1, refusal.Index);
        Assert.Contains("the download was refused (401)", refusal.Message);
    }
}
