using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Embedding.Tests.Infrastructure;
using Embedding.Worker.Model;

namespace Embedding.Tests;

/// <summary>An engine (the SGLang double) that restarts under a running worker: requests in between are retried, not lost.</summary>
public sealed class EngineRestartTests
{
    private static readonly Qwen3Tokenizer Tokenizer = new(TestEnvironment.TinyModel);

    [Fact]
    public async Task Requests_during_an_engine_restart_are_answered_once_it_is_back()
    {
        var port = TestEnvironment.ClosedPort();
        var engine = await new SglangEngineDouble(Tokenizer, port).StartAsync();
        await using var stack = new EmbeddingStack(backend: "OpenAI", redis: null, worker: new()
        {
            ["Worker:OpenAI:BaseUrl"] = engine.BaseUrl.ToString(), ["Worker:OpenAI:Model"] = engine.ModelPath,
            ["Worker:OpenAI:Dimensions"] = engine.HiddenSize.ToString(), ["Worker:OpenAI:ContextLength"] = engine.ContextLength.ToString(),
            ["Worker:OpenAI:TokenizerPath"] = TestEnvironment.TinyModel, ["Worker:OpenAI:TimeoutSeconds"] = "5",
        });
        Assert.Equal(HttpStatusCode.OK, (await stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "before" })).StatusCode);

        await engine.DisposeAsync();  // the engine goes away (crash, upgrade, preemption)
        var during = stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "during the restart" });
        // The request has reached the worker and its batch is on the backend, failing against the missing engine.
        var batcher = stack.WorkerServices(0).GetRequiredService<Embedding.Worker.Batching.TokenBudgetBatcher>();
        await TestEnvironment.WaitUntilAsync(() => batcher.Running > 0, TimeSpan.FromSeconds(30));
        await using var restarted = await new SglangEngineDouble(Tokenizer, port).StartAsync();

        var response = await during.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var vector = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("data")[0].GetProperty("embedding")
            .EnumerateArray().Select(x => x.GetSingle()).ToArray();
        Assert.True(Embedding.Contracts.VectorMath.Cosine(restarted.VectorFor(Tokenizer.Encode("during the restart")), vector) > 0.99999);
    }
}
