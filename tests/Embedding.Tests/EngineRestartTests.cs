using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Embedding.Tests.Infrastructure;
using Embedding.Worker.Backends;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Embedding.Tests;

/// <summary>An engine (SGLang) that restarts under a running worker: requests in between are retried, not lost.</summary>
public sealed class EngineRestartTests
{
    private static async Task<WebApplication> StartEngineAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var engine = builder.Build();
        engine.MapGet("/health", () => Results.Ok());
        engine.MapPost("/v1/embeddings", async (HttpContext ctx) =>
        {
            var request = await JsonSerializer.DeserializeAsync<JsonElement>(ctx.Request.Body);
            var data = request.GetProperty("input").EnumerateArray()
                .Select((e, i) => new { @object = "embedding", index = i, embedding = FakeBackend.VectorFor(e.GetString()!, 64) });
            await ctx.Response.WriteAsJsonAsync(new { @object = "list", data });
        });
        await engine.StartAsync();
        return engine;
    }

    [Fact]
    public async Task Requests_during_an_engine_restart_are_answered_once_it_is_back()
    {
        var port = TestEnvironment.ClosedPort();
        var engine = await StartEngineAsync(port);
        await using var stack = new EmbeddingStack(backend: "OpenAI", redis: null, worker: new()
        {
            ["Worker:OpenAI:BaseUrl"] = $"http://127.0.0.1:{port}/", ["Worker:OpenAI:Model"] = "m",
            ["Worker:OpenAI:Dimensions"] = "64", ["Worker:OpenAI:TimeoutSeconds"] = "5",
        });
        Assert.Equal(HttpStatusCode.OK, (await stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "before" })).StatusCode);

        await engine.DisposeAsync();  // the engine goes away (crash, upgrade, preemption)
        var during = stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "during the restart" });
        // The request has reached the worker and its batch is on the backend, failing against the missing engine.
        var batcher = stack.WorkerServices(0).GetRequiredService<Embedding.Worker.Batching.TokenBudgetBatcher>();
        await TestEnvironment.WaitUntilAsync(() => batcher.Running > 0, TimeSpan.FromSeconds(30));
        await using var restarted = await StartEngineAsync(port);

        var response = await during.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var vector = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("data")[0].GetProperty("embedding")
            .EnumerateArray().Select(x => x.GetSingle()).ToArray();
        Assert.True(Embedding.Contracts.VectorMath.Cosine(FakeBackend.VectorFor("during the restart", 64), vector) > 0.99999);
    }
}
