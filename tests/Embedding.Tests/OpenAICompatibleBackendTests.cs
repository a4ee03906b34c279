using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using Embedding.Worker;
using Embedding.Worker.Backends;
using Embedding.Worker.Batching;
using Embedding.Worker.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Embedding.Tests;

/// <summary>The SGLang-facing backend against an in-test server that speaks OpenAI's /v1/embeddings.</summary>
public sealed class OpenAICompatibleBackendTests : IAsyncLifetime
{
    private WebApplication _engine = null!;
    private Func<HttpContext, Task> _handler = _ => Task.CompletedTask;
    private Uri _baseUrl = null!;
    private volatile bool _healthy = true;
    private int _refusedHealthChecks;  // /health answered 503: a worker is up and asking
    public List<JsonElement> Requests { get; } = [];

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _engine = builder.Build();
        _engine.MapGet("/health", () =>
        {
            if (_healthy) return Results.Ok();
            Interlocked.Increment(ref _refusedHealthChecks);
            return Results.StatusCode(503);
        });
        _engine.MapPost("/v1/embeddings", async ctx =>
        {
            var body = await JsonSerializer.DeserializeAsync<JsonElement>(ctx.Request.Body);
            lock (Requests) Requests.Add(body);
            ctx.Items["body"] = body;  // this call's own request, whatever else runs concurrently
            await _handler(ctx);
        });
        await _engine.StartAsync();
        _baseUrl = new Uri(_engine.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    public async Task DisposeAsync() => await _engine.DisposeAsync();

    private OpenAICompatibleBackend Backend(string? tokenizer = null) => new(new HttpClient(), new OpenAIBackendOptions
    {
        BaseUrl = _baseUrl, Model = "Qwen/Qwen3-Embedding-4B", Dimensions = 4, MaxInputTokens = 64,
    }, tokenizer is null ? null : new Qwen3Tokenizer(tokenizer));

    private static Task Answer(HttpContext ctx, params float[][] vectors) => ctx.Response.WriteAsJsonAsync(new
    {
        @object = "list",
        data = vectors.Select((v, i) => new { @object = "embedding", index = i, embedding = v }).Reverse(),  // engines may reorder
        model = "Qwen/Qwen3-Embedding-4B",
    });

    [Fact]
    public async Task Sends_the_texts_and_returns_normalised_vectors_in_input_order()
    {
        _handler = ctx => Answer(ctx, [3, 4, 0, 0], [0, 0, 0, 2]);
        var backend = Backend();

        var vectors = await backend.EmbedAsync([backend.Tokenize("a", false), backend.Tokenize("b", false)], CancellationToken.None);

        Assert.Equal([0.6f, 0.8f, 0, 0], vectors[0]);
        Assert.Equal([0f, 0, 0, 1], vectors[1]);
        var sent = Assert.Single(Requests);
        Assert.Equal("Qwen/Qwen3-Embedding-4B", sent.GetProperty("model").GetString());
        Assert.Equal(["a", "b"], sent.GetProperty("input").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("float", sent.GetProperty("encoding_format").GetString());
    }

    [Theory]
    [InlineData(500)]
    [InlineData(503)]
    [InlineData(400)]
    public async Task Engine_errors_become_backend_errors(int status)
    {
        _handler = ctx => { ctx.Response.StatusCode = status; return ctx.Response.WriteAsync("{\"error\":{\"message\":\"boom\"}}"); };
        var backend = Backend();

        var error = await Assert.ThrowsAsync<BackendException>(() => backend.EmbedAsync([backend.Tokenize("a", false)], CancellationToken.None));
        Assert.Contains(status.ToString(), error.Message);
    }

    [Fact]
    public async Task Missing_vectors_are_backend_errors()
    {
        _handler = ctx => Answer(ctx, [1, 0, 0, 0]);
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

    [Fact]
    public async Task Through_the_whole_service_an_engine_hiccup_is_retried_and_the_client_never_sees_it()
    {
        var calls = 0;
        _handler = ctx =>
        {
            if (Interlocked.Increment(ref calls) == 1) { ctx.Response.StatusCode = 503; return Task.CompletedTask; }
            var inputs = Requests[^1].GetProperty("input").EnumerateArray().Select(e => e.GetString()!).ToArray();
            return Answer(ctx, inputs.Select(t => FakeBackend.VectorFor(t, 64)).ToArray());
        };
        await using var stack = new EmbeddingStack(backend: "OpenAI", redis: null, worker: new()
        {
            ["Worker:OpenAI:BaseUrl"] = _baseUrl.ToString(), ["Worker:OpenAI:Model"] = "Qwen/Qwen3-Embedding-4B",
            ["Worker:OpenAI:Dimensions"] = "64", ["Worker:OpenAI:TimeoutSeconds"] = "10",
        });

        var response = await stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = new[] { "gpu one", "gpu two" } });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        var vector = json.GetProperty("data")[1].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
        Assert.True(VectorMath.Cosine(FakeBackend.VectorFor("gpu two", 64), vector) > 0.99999);  // renormalised: equal up to rounding
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
        _handler = async ctx =>
        {
            var inputs = ((JsonElement)ctx.Items["body"]!).GetProperty("input").EnumerateArray().Select(e => e.GetString()!).ToArray();
            if (inputs.Contains("occupier")) await occupied.Task;
            if (inputs.Contains("poison")) Interlocked.Increment(ref poisonCalls);
            await Answer(ctx, inputs.Select(t => t == "poison" ? new float[10] : FakeBackend.VectorFor(t, 64)).ToArray());
        };
        await using var stack = new EmbeddingStack(backend: "OpenAI", redis: null, worker: new()
        {
            ["Worker:OpenAI:BaseUrl"] = _baseUrl.ToString(), ["Worker:OpenAI:Model"] = "Qwen/Qwen3-Embedding-4B", ["Worker:OpenAI:Dimensions"] = "64",
        });
        // A first request holds the worker's only batch slot; the two sent meanwhile pile up and share the next batch.
        var occupier = stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "occupier" });
        await TestEnvironment.WaitUntilAsync(() => { lock (Requests) return Requests.Count == 1; }, TimeSpan.FromSeconds(30));

        var poisoned = stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "poison" });
        var good = stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "healthy" });
        var batcher = stack.WorkerServices(0).GetRequiredService<TokenBudgetBatcher>();
        await TestEnvironment.WaitUntilAsync(() => batcher.Waiting == 2, TimeSpan.FromSeconds(30));
        occupied.SetResult();
        Assert.Equal(HttpStatusCode.OK, (await occupier).StatusCode);
        lock (Requests) Assert.Equal(["poison", "healthy"], Requests[1].GetProperty("input").EnumerateArray().Select(e => e.GetString()!).Order(StringComparer.Ordinal).Reverse());

        Assert.Equal(HttpStatusCode.OK, (await good).StatusCode);
        var failed = await poisoned;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, failed.StatusCode);
        Assert.True(failed.Headers.RetryAfter?.Delta > TimeSpan.Zero);

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
        _healthy = false;  // e.g. SGLang still loading the model
        _handler = ctx => Answer(ctx, Requests[^1].GetProperty("input").EnumerateArray().Select(e => FakeBackend.VectorFor(e.GetString()!, 64)).ToArray());
        await using var stack = new EmbeddingStack(backend: "OpenAI", redis: null, workers: 0, worker: new()
        {
            ["Worker:OpenAI:BaseUrl"] = _baseUrl.ToString(), ["Worker:OpenAI:Model"] = "m", ["Worker:OpenAI:Dimensions"] = "64",
        });

        var starting = Task.Run(() => stack.StartWorker());  // start-up waits on the engine's /health
        var request = stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "waits for the engine" });
        // The worker is up and has been refused twice (it polls every second) with the request already queued: by then
        // a worker that did not wait for its engine would have taken it.
        await TestEnvironment.WaitUntilAsync(() => Volatile.Read(ref _refusedHealthChecks) >= 3, TimeSpan.FromSeconds(60));
        Assert.False(starting.IsCompleted);
        Assert.False(request.IsCompleted);  // waiting on the queue, not failed
        Assert.Empty(Requests);

        _healthy = true;
        await starting.WaitAsync(TimeSpan.FromSeconds(30));
        var response = await request.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Single(Requests);
    }

    [Fact]
    public void With_a_tokenizer_counts_are_exact_and_truncation_shortens_the_text()
    {
        var backend = Backend(TestEnvironment.TinyModel);
        var tokenizer = new Qwen3Tokenizer(TestEnvironment.TinyModel);
        var text = string.Join(' ', Enumerable.Repeat("embedding", 100));

        Assert.Equal(tokenizer.Encode("hello world").Length, backend.Tokenize("hello world", false).TokenCount);
        var cut = backend.Tokenize(text, truncate: true);
        Assert.Equal(64, cut.TokenCount);
        Assert.True(cut.Text.Length < text.Length && text.StartsWith(cut.Text, StringComparison.Ordinal));
    }
}
