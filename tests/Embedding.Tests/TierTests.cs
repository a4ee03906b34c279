using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using Embedding.Worker.Backends;

namespace Embedding.Tests;

public sealed class TierTests
{
    public static bool IsTier(ReadOnlySpan<KeyValuePair<string, object?>> tags, string model)
    {
        foreach (var tag in tags) if (tag.Key == "embedding.model" && Equals(tag.Value, model)) return true;
        return false;
    }

    private static float[] Vector(JsonElement json, int i = 0) =>
        json.GetProperty("data")[i].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();

    /// <summary>Each model goes to its own tier's queue and workers, with that tier's vector size.</summary>
    [Fact]
    public async Task Requests_route_by_model_to_their_tier()
    {
        var gpuTier = EmbeddingStack.NewModelName();
        // Tier 1: the CPU ONNX model. Tier 2: another model served by other workers (a fake engine, 64-d).
        await using var cpu = new EmbeddingStack(redis: null, api: new()
        {
            ["Api:Models:2:Name"] = gpuTier, ["Api:Models:2:Dimensions"] = "64",
        });
        await using var gpu = new EmbeddingStack(backend: "Fake", redis: null, model: gpuTier);

        var a = await (await cpu.Client.PostAsJsonAsync("/v1/embeddings", new { model = cpu.Model, input = "which tier?" })).Content.ReadFromJsonAsync<JsonElement>();
        var b = await (await cpu.Client.PostAsJsonAsync("/v1/embeddings", new { model = gpuTier, input = "which tier?" })).Content.ReadFromJsonAsync<JsonElement>();
        var b32 = await (await cpu.Client.PostAsJsonAsync("/v1/embeddings", new { model = gpuTier, input = "which tier?", dimensions = 32 })).Content.ReadFromJsonAsync<JsonElement>();
        var tooBig = await cpu.Client.PostAsJsonAsync("/v1/embeddings", new { model = gpuTier, input = "x", dimensions = 65 });

        Assert.Equal(cpu.Dimensions, Vector(a).Length);
        Assert.Equal(FakeBackend.VectorFor("which tier?", 64), Vector(b));
        Assert.Equal(VectorMath.Truncate(FakeBackend.VectorFor("which tier?", 64), 32), Vector(b32));
        Assert.Equal(HttpStatusCode.BadRequest, tooBig.StatusCode);
    }

    /// <summary>A worker told to stop (scale-in, SIGTERM) stops taking messages, answers what it holds, then exits.</summary>
    [Fact]
    public async Task A_stopping_worker_answers_what_it_holds_and_nothing_twice()
    {
        await using var stack = new EmbeddingStack(backend: "Fake", redis: null, worker: new()
        {
            ["Worker:Fake:DelayMilliseconds"] = "1500", ["Worker:MaxBatchSize"] = "4",
        });
        long computed = 0, held = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Embedding.Worker" && instrument.Name is "embedding.batch.size" or "embedding.batcher.queued") l.EnableMeasurementEvents(instrument);
        };
        // Other tests' workers report to the same process: count only this tier's measurements.
        listener.SetMeasurementEventCallback<int>((_, value, tags, _) => { if (IsTier(tags, stack.Model)) Interlocked.Add(ref computed, value); });
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) => { if (IsTier(tags, stack.Model)) Interlocked.Add(ref held, value); });
        listener.Start();

        var texts = Enumerable.Range(0, 8).Select(i => $"drain {i}").ToArray();
        var requests = texts.Select(t => stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = t })).ToArray();
        // Stop once the worker holds all 8: one batch of 4 on the engine, 4 waiting in the batcher.
        for (var i = 0; Interlocked.Read(ref held) < texts.Length; i++)
        {
            Assert.True(i < 300, "the worker never received the requests");
            await Task.Delay(50);
        }
        Assert.Equal(0, Interlocked.Read(ref computed));
        await stack.StopWorkersAsync();  // graceful: the host stops the bus first, which waits for its consumers

        var responses = await Task.WhenAll(requests).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, stack.WorkerCount);
        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(HttpStatusCode.OK, responses[i].StatusCode);
            Assert.Equal(FakeBackend.VectorFor(texts[i], 64), Vector(await responses[i].Content.ReadFromJsonAsync<JsonElement>()));
        }
        Assert.Equal(texts.Length, Interlocked.Read(ref computed));  // each text computed exactly once
    }
}
