using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using Embedding.Worker.Batching;
using Embedding.Worker.Model;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Embedding.Tests;

/// <summary>
/// A GPU tier through the whole service (API, RabbitMQ, worker) against the SGLang double: the worker sends nothing SGLang
/// would refuse, and what the engine does refuse fails only the request it belongs to.
/// </summary>
public sealed class OpenAICompatibleBackendStackTests : IAsyncLifetime
{
    private static readonly Qwen3Tokenizer Tokenizer = new(TestEnvironment.TinyModel);
    private SglangEngineDouble _engine = null!;

    public async Task InitializeAsync() => _engine = await new SglangEngineDouble(Tokenizer).StartAsync();

    public async Task DisposeAsync() => await _engine.DisposeAsync();

    private int RequestCount { get { lock (_engine.Requests) return _engine.Requests.Count; } }

    /// <summary>A worker of the double, as the AppHost configures one: the engine's model, context_len and tokenizer.</summary>
    private EmbeddingStack Stack(int workers = 1) => new(backend: "OpenAI", redis: null, workers: workers, worker: new()
    {
        ["Worker:OpenAI:BaseUrl"] = _engine.BaseUrl.ToString(), ["Worker:OpenAI:Model"] = _engine.ModelPath,
        ["Worker:OpenAI:Dimensions"] = _engine.HiddenSize.ToString(), ["Worker:OpenAI:ContextLength"] = _engine.ContextLength.ToString(),
        ["Worker:OpenAI:TokenizerPath"] = TestEnvironment.TinyModel, ["Worker:OpenAI:TimeoutSeconds"] = "10",
    });

    private static float[] Vector(JsonElement json, int index) =>
        json.GetProperty("data")[index].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();

    private static bool Holds(EngineCall call, string text) => call.Inputs.Any(ids => ids.SequenceEqual(Tokenizer.Encode(text)));

    [Fact]
    public async Task Whitespace_only_texts_a_text_cut_to_the_limit_and_dimensions_are_all_served()
    {
        await using var stack = Stack();
        var longText = string.Join(' ', Enumerable.Repeat("embedding", 100));

        var response = await stack.Client.PostAsJsonAsync("/v1/embeddings",
            new { model = stack.Model, input = new[] { "   ", "\n", longText }, dimensions = 32, truncate = true });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        var cut = Tokenizer.Truncate(Tokenizer.Encode(longText), _engine.ContextLength - 1);
        Assert.True(VectorMath.Cosine(VectorMath.Truncate(_engine.VectorFor(Tokenizer.Encode("   ")), 32), Vector(json, 0)) > 0.99999);
        Assert.True(VectorMath.Cosine(VectorMath.Truncate(_engine.VectorFor(cut), 32), Vector(json, 2)) > 0.99999);
        Assert.Equal(Tokenizer.Encode("   ").Length + Tokenizer.Encode("\n").Length + cut.Length,
            json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        lock (_engine.Requests) Assert.All(_engine.Requests, r => Assert.False(r.TryGetProperty("dimensions", out _)));
    }

    /// <summary>
    /// One text the engine refuses (its 400) shares a batch with a good one: the good request gets its vector, the bad
    /// one a 400 naming the engine's reason; neither is retried as a failure or parked.
    /// </summary>
    [Fact]
    public async Task A_text_the_engine_refuses_fails_only_its_own_request_with_a_400_naming_the_reason()
    {
        var occupied = new TaskCompletionSource();
        _engine.Intercept = async call =>
        {
            if (Holds(call, "occupier")) await occupied.Task;
            return Holds(call, "refused text") ? SglangEngineDouble.Error("The input is not acceptable to this engine.") : null;
        };
        await using var stack = Stack();
        // A first request holds the worker's only batch slot; the two sent meanwhile pile up and share the next batch.
        var occupier = stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "occupier" });
        await TestEnvironment.WaitUntilAsync(() => RequestCount == 1, TimeSpan.FromSeconds(30));
        var bad = stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = new[] { "fine", "refused text" } });
        var good = stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "healthy" });
        var batcher = stack.WorkerServices(0).GetRequiredService<TokenBudgetBatcher>();
        await TestEnvironment.WaitUntilAsync(() => batcher.Waiting == 3, TimeSpan.FromSeconds(30));
        occupied.SetResult();

        Assert.Equal(HttpStatusCode.OK, (await occupier).StatusCode);
        var served = await good;
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        var vector = Vector(await served.Content.ReadFromJsonAsync<JsonElement>(), 0);
        Assert.True(VectorMath.Cosine(_engine.VectorFor(Tokenizer.Encode("healthy")), vector) > 0.99999);
        var failed = await bad;
        Assert.Equal(HttpStatusCode.BadRequest, failed.StatusCode);
        var error = (await failed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
        Assert.Equal("invalid_input", error.GetProperty("code").GetString());
        Assert.Equal("input[1]", error.GetProperty("param").GetString());
        Assert.Contains("The input is not acceptable to this engine.", error.GetProperty("message").GetString());
        lock (_engine.Requests) Assert.Equal(3, _engine.Requests[1].GetProperty("input").GetArrayLength());  // they did share a batch
    }

    [Fact]
    public async Task An_engine_hiccup_is_retried_and_the_client_never_sees_it()
    {
        var calls = 0;
        _engine.Intercept = _ => Task.FromResult(Interlocked.Increment(ref calls) == 1 ? SglangEngineDouble.Error("overloaded", 503, "ServiceUnavailable") : null);
        await using var stack = Stack();

        var response = await stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = new[] { "gpu one", "gpu two" } });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(VectorMath.Cosine(_engine.VectorFor(Tokenizer.Encode("gpu two")), Vector(json, 1)) > 0.99999);
        Assert.Equal(2, calls);
    }

    /// <summary>
    /// An engine that answers one input with garbage (a wrong-length vector) every time: that request fails with a
    /// retryable error after bounded retries, its message is parked in the error queue instead of looping, and a good
    /// request batched with it is still answered.
    /// </summary>
    [Fact]
    public async Task A_poisoned_input_fails_only_its_own_request_and_its_message_is_parked_not_looped()
    {
        var poisonCalls = 0;
        var occupied = new TaskCompletionSource();
        _engine.Intercept = async call =>
        {
            if (Holds(call, "occupier")) await occupied.Task;
            if (!Holds(call, "poison")) return null;
            Interlocked.Increment(ref poisonCalls);
            var poison = Tokenizer.Encode("poison");
            return _engine.Answer(call.Inputs.Select(ids => ids.SequenceEqual(poison) ? new float[10] : _engine.VectorFor(ids)).ToList(), 1);
        };
        await using var stack = Stack();
        var occupier = stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "occupier" });
        await TestEnvironment.WaitUntilAsync(() => RequestCount == 1, TimeSpan.FromSeconds(30));

        var poisoned = stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "poison" });
        var good = stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "healthy" });
        var batcher = stack.WorkerServices(0).GetRequiredService<TokenBudgetBatcher>();
        await TestEnvironment.WaitUntilAsync(() => batcher.Waiting == 2, TimeSpan.FromSeconds(30));
        occupied.SetResult();
        Assert.Equal(HttpStatusCode.OK, (await occupier).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await good).StatusCode);
        var failed = await poisoned;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, failed.StatusCode);
        Assert.True(failed.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        lock (_engine.Requests) Assert.Equal(2, _engine.Requests[1].GetProperty("input").GetArrayLength());

        var queue = EmbeddingQueues.ForModel(stack.Model) + "_error";
        await using var management = new Embedding.AppHost.Scaling.QueueDepthProbe(new Uri(TestEnvironment.RabbitMqManagement));
        await TestEnvironment.WaitUntilAsync(async () => await management.GetDepthAsync(queue, default) >= 1, TimeSpan.FromSeconds(30), pollMilliseconds: 250);
        Assert.Equal(1, await management.GetDepthAsync(queue, default));
        // Parked in the error queue, the message cannot be tried again: the attempts are bounded (the first try and the
        // retries of the whole batch, then the poisoned text alone), not a loop.
        Assert.InRange(poisonCalls, 2, 12);
    }

    [Fact]
    public async Task Worker_takes_no_message_until_its_engine_is_healthy()
    {
        _engine.Loading = true;  // SGLang still loading the model: /health answers 503
        await using var stack = Stack(workers: 0);

        var starting = Task.Run(() => stack.StartWorker());  // start-up waits on the engine's /health
        var request = stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "waits for the engine" });
        // The worker is up and has been refused twice (it polls every second) with the request already queued: by then
        // a worker that did not wait for its engine would have taken it.
        await TestEnvironment.WaitUntilAsync(() => _engine.RefusedHealthChecks >= 3, TimeSpan.FromSeconds(60));
        Assert.False(starting.IsCompleted);
        Assert.False(request.IsCompleted);  // waiting on the queue, not failed
        Assert.Equal(0, RequestCount);

        _engine.Loading = false;
        await starting.WaitAsync(TimeSpan.FromSeconds(30));
        var response = await request.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, RequestCount);
    }
}
