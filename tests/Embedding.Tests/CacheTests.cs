using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Embedding.Tests;

public sealed class CacheTests
{
    private static float[] Vector(JsonElement response, int i = 0) =>
        response.GetProperty("data")[i].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();

    [Fact]
    public async Task Repeats_are_answered_from_the_cache_with_no_worker_running()
    {
        await using var stack = new EmbeddingStack(requestTimeoutSeconds: 3);
        var first = await (await stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = new[] { "cached one", "cached two" } }))
            .Content.ReadFromJsonAsync<JsonElement>();

        await stack.StopWorkersAsync();
        var again = await stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = new[] { "cached two", "cached one" }, dimensions = 32 });
        var uncached = await stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "never seen" });

        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        var json = await again.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(VectorMath.Truncate(Vector(first, 1), 32), Vector(json, 0));
        Assert.Equal(VectorMath.Truncate(Vector(first, 0), 32), Vector(json, 1));
        Assert.Equal(first.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        // No worker: the uncached text waits out the timeout, then 503 with Retry-After.
        Assert.Equal(HttpStatusCode.ServiceUnavailable, uncached.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(7), uncached.Headers.RetryAfter?.Delta);
        Assert.Equal("service_unavailable", (await uncached.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Redis_is_shared_between_api_replicas()
    {
        await using var one = new EmbeddingStack();
        var text = $"shared through redis {Guid.NewGuid()}";
        var first = await (await one.Client.PostAsJsonAsync("/v1/embeddings", new { model = one.Model, input = text })).Content.ReadFromJsonAsync<JsonElement>();

        // A second API process with an empty L1, same model name and Redis, and no worker at all.
        await using var two = new EmbeddingStack(workers: 0, requestTimeoutSeconds: 3, api: new() { ["Api:Models:0:Name"] = one.Model });
        var fromRedis = await two.Client.PostAsJsonAsync("/v1/embeddings", new { model = one.Model, input = text });

        Assert.Equal(HttpStatusCode.OK, fromRedis.StatusCode);
        Assert.Equal(Vector(first), Vector(await fromRedis.Content.ReadFromJsonAsync<JsonElement>()));
    }

    [Fact]
    public async Task Redis_down_still_serves_uncached_and_counts_it()
    {
        await using var stack = new EmbeddingStack(redis: $"127.0.0.1:{TestEnvironment.ClosedPort()}");
        var errors = 0L;
        using var listener = new MeterListener();
        // This API host's meters only (each host's meters come from its own IMeterFactory, their scope), not other tests'.
        var factory = stack.ApiServices.GetRequiredService<IMeterFactory>();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "embedding.cache.l2.errors" && ReferenceEquals(instrument.Meter.Scope, factory)) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref errors, value));
        listener.Start();

        for (var i = 0; i < 3; i++)
        {
            var response = await stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = $"no redis {i}" });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.True(Interlocked.Read(ref errors) >= 3, $"expected the L2 error counter to move, saw {errors}");
    }

    [Fact]
    public async Task Duplicates_in_one_request_are_sent_to_the_worker_once()
    {
        await using var stack = new EmbeddingStack(redis: null);
        long queued = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) => { if (instrument.Name == "embedding.batcher.queued") l.EnableMeasurementEvents(instrument); };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) => { if (TierTests.IsTier(tags, stack.Model)) Interlocked.Add(ref queued, value); });
        listener.Start();

        var response = await stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = new[] { "dup", "other", "dup", "dup" } });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(4, json.GetProperty("data").GetArrayLength());
        Assert.Equal(Vector(json, 0), Vector(json, 2));
        Assert.Equal(2, Interlocked.Read(ref queued));
    }
}
