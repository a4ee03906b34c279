using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Embedding.Api;
using Embedding.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Embedding.Tests;

/// <summary>
/// Several API replicas (in-process hosts) against the same Redis and RabbitMQ: a key's requests and tokens per
/// minute are granted once across them, with 429 + Retry-After from the shared bucket; the cache and the queue
/// behave as with one; with Redis unreachable, limits fall back to each replica's own counters and nothing fails.
/// </summary>
[Collection(nameof(AppHosts))]
public sealed class ReplicaTests
{
    private const string AliceKey = "sk-emb-alice-replicas-51c0";
    private const string BobKey = "sk-emb-bob-replicas-2e97";

    /// <summary>Key names of their own per test: limits in the shared Redis are counted by key name.</summary>
    private static Dictionary<string, string?> Keys(out string alice, Dictionary<string, string?> limits)
    {
        alice = $"alice-{Guid.NewGuid():N}"[..18];
        var settings = new Dictionary<string, string?>
        {
            ["Api:Auth:Keys:0:Name"] = alice,
            ["Api:Auth:Keys:0:Sha256"] = ApiKeyOptions.Hash(AliceKey),
            ["Api:Auth:Keys:1:Name"] = $"bob-{Guid.NewGuid():N}"[..16],
            ["Api:Auth:Keys:1:Sha256"] = ApiKeyOptions.Hash(BobKey),
        };
        foreach (var (k, v) in limits) settings[k] = v;
        return settings;
    }

    private static HttpClient Client(EmbeddingStack stack, string key) => stack.NewClient(key);

    /// <summary>Until a replica's Redis connection is up its limits are its own (the fallback): wait for it, with a deadline.</summary>
    private static Task ConnectedAsync(params EmbeddingStack[] stacks) => TestEnvironment.WaitUntilAsync(
        () => stacks.All(s => s.ApiServices.GetRequiredService<StackExchange.Redis.IConnectionMultiplexer>().IsConnected), TimeSpan.FromSeconds(20));

    private static async Task<JsonElement> ErrorOf(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");

    private static float[] Vector(JsonElement response, int i = 0) =>
        response.GetProperty("data")[i].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();

    [Fact]
    public async Task Requests_per_minute_are_granted_once_across_replicas()
    {
        var keys = Keys(out _, new() { ["Api:Auth:Keys:0:RequestsPerMinute"] = "3" });
        await using var one = new EmbeddingStack(backend: "Fake", workers: 0, api: keys);
        await using var two = new EmbeddingStack(backend: "Fake", workers: 0, model: one.Model, api: keys);
        await ConnectedAsync(one, two);
        using var viaOne = Client(one, AliceKey);
        using var viaTwo = Client(two, AliceKey);

        // Alternating replicas, eight requests well inside the 20 s the bucket takes to refill one: three pass in all
        // (each replica counting alone would pass six).
        var responses = new List<HttpResponseMessage>();
        for (var i = 0; i < 8; i++) responses.Add(await (i % 2 == 0 ? viaOne : viaTwo).GetAsync("/v1/models"));

        Assert.All(responses[..3], r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        var refused = responses[3..];
        Assert.All(refused, r => Assert.Equal(HttpStatusCode.TooManyRequests, r.StatusCode));
        foreach (var r in refused)
        {
            // The bucket refills one request per 20 s: Retry-After is the wait for the next, from either replica.
            Assert.InRange(r.Headers.RetryAfter?.Delta ?? TimeSpan.Zero, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(20));
            var error = await ErrorOf(r);
            Assert.Equal("rate_limit_exceeded", error.GetProperty("code").GetString());
            Assert.Equal("requests", error.GetProperty("type").GetString());
        }
        // Another key has its own bucket on both.
        using var bob = Client(two, BobKey);
        Assert.Equal(HttpStatusCode.OK, (await bob.GetAsync("/v1/models")).StatusCode);
    }

    [Fact]
    public async Task Tokens_per_minute_charged_on_one_replica_are_refused_on_the_other()
    {
        var keys = Keys(out _, new() { ["Api:Auth:Keys:0:TokensPerMinute"] = "60" });
        await using var one = new EmbeddingStack(backend: "Fake", api: keys);
        await using var two = new EmbeddingStack(backend: "Fake", workers: 0, model: one.Model, api: keys);
        await ConnectedAsync(one, two);
        using var viaOne = Client(one, AliceKey);
        using var viaTwo = Client(two, AliceKey);

        var first = await viaOne.PostAsJsonAsync("/v1/embeddings", new { model = one.Model, input = string.Join(' ', Enumerable.Repeat("word", 100)) });
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var used = (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        Assert.True(used > 60);

        var second = await viaTwo.PostAsJsonAsync("/v1/embeddings", new { model = one.Model, input = "more" });
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        var error = await ErrorOf(second);
        Assert.Equal("rate_limit_exceeded", error.GetProperty("code").GetString());
        Assert.Equal("tokens", error.GetProperty("type").GetString());
        // The bucket is (used - 60) tokens short of one, refilling one token per second.
        Assert.InRange(second.Headers.RetryAfter?.Delta ?? TimeSpan.Zero, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(used - 60 + 1));
        Assert.Equal(HttpStatusCode.TooManyRequests, (await viaOne.PostAsJsonAsync("/v1/embeddings", new { model = one.Model, input = "more" })).StatusCode);

        using var bob = Client(two, BobKey);
        Assert.Equal(HttpStatusCode.OK, (await bob.PostAsJsonAsync("/v1/embeddings", new { model = one.Model, input = "more" })).StatusCode);
    }

    [Fact]
    public async Task Cache_and_queue_behave_as_with_one_replica()
    {
        // One worker, two API replicas: both send to the tier's one queue and read from one Redis.
        await using var one = new EmbeddingStack(backend: "Fake", requestTimeoutSeconds: 3);
        await using var two = new EmbeddingStack(backend: "Fake", workers: 0, requestTimeoutSeconds: 3, model: one.Model);
        var texts = Enumerable.Range(0, 40).Select(i => $"replica text {i} {Guid.NewGuid():N}").ToArray();

        var answers = await Task.WhenAll(texts.Select(async (text, i) =>
        {
            var response = await (i % 2 == 0 ? one : two).Client.PostAsJsonAsync("/v1/embeddings", new { model = one.Model, input = text });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return Vector(await response.Content.ReadFromJsonAsync<JsonElement>());
        }));
        Assert.All(answers, v => Assert.Equal(one.Dimensions, v.Length));
        Assert.Equal(texts.Length, answers.Select(v => string.Join(',', v)).Distinct().Count());  // each its own vector

        // With no worker left, each replica answers the texts the other sent, from Redis, with the same vectors.
        await one.StopWorkersAsync();
        for (var i = 0; i < texts.Length; i++)
        {
            var other = i % 2 == 0 ? two : one;
            JsonElement json = default;
            // Redis writes are fire-and-forget: wait for this one to land (a miss waits out the 3 s timeout, 503).
            await TestEnvironment.WaitUntilAsync(async () =>
            {
                var response = await other.Client.PostAsJsonAsync("/v1/embeddings", new { model = one.Model, input = texts[i] });
                if (response.StatusCode != HttpStatusCode.OK) return false;
                json = await response.Content.ReadFromJsonAsync<JsonElement>();
                return true;
            }, TimeSpan.FromSeconds(30));
            Assert.Equal(answers[i], Vector(json));
        }
    }

    [Fact]
    public async Task With_redis_unreachable_limits_hold_per_replica_and_nothing_fails()
    {
        var keys = Keys(out _, new() { ["Api:Auth:Keys:0:RequestsPerMinute"] = "2", ["Api:Auth:Keys:1:TokensPerMinute"] = "60" });
        await using var stack = new EmbeddingStack(backend: "Fake", redis: $"127.0.0.1:{TestEnvironment.ClosedPort()}", api: keys);
        var local = new Dictionary<string, long>();
        using var listener = new MeterListener();
        var factory = stack.ApiServices.GetRequiredService<IMeterFactory>();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "embedding.limits.local" && ReferenceEquals(instrument.Meter.Scope, factory)) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            lock (local)
                foreach (var tag in tags)
                    if (tag.Key == "limit") local[(string)tag.Value!] = local.GetValueOrDefault((string)tag.Value!) + value;
        });
        listener.Start();
        using var alice = Client(stack, AliceKey);
        using var bob = Client(stack, BobKey);

        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync("/v1/models")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync("/v1/models")).StatusCode);
        var third = await alice.GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.InRange(third.Headers.RetryAfter?.Delta ?? TimeSpan.Zero, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        Assert.Equal("requests", (await ErrorOf(third)).GetProperty("type").GetString());

        var big = await bob.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = string.Join(' ', Enumerable.Repeat("word", 100)) });
        Assert.Equal(HttpStatusCode.OK, big.StatusCode);
        var refused = await bob.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "more" });
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("tokens", (await ErrorOf(refused)).GetProperty("type").GetString());
        Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));

        lock (local)
        {
            Assert.True(local.GetValueOrDefault("requests") >= 3, $"requests decided locally: {local.GetValueOrDefault("requests")}");
            Assert.True(local.GetValueOrDefault("tokens") >= 3, $"token checks decided locally: {local.GetValueOrDefault("tokens")}");
        }
    }

    /// <summary>One API process by default; Embedding:ApiReplicas asks for more.</summary>
    [Fact]
    public async Task The_apphost_runs_one_api_process_by_default()
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Embedding_AppHost>(["--Embedding:UseContainers=false"]);
        await using var app = await builder.BuildAsync();

        var api = app.Services.GetRequiredService<DistributedApplicationModel>().Resources.Single(r => r.Name == "api");
        Assert.Equal(1, api.TryGetLastAnnotation<ReplicaAnnotation>(out var replicas) ? replicas.Replicas : 1);
    }

    /// <summary>
    /// The real AppHost with Embedding:ApiReplicas=2 (local redis-server and rabbitmq-server on ports of this test's own):
    /// two API processes run, and the one endpoint in front of them answers.
    /// </summary>
    [Fact]
    public async Task The_apphost_runs_two_api_processes_behind_one_endpoint_when_asked()
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Embedding_AppHost>(
            ["--Embedding:UseContainers=false", "--Embedding:LocalRedisPort=36679", "--Embedding:LocalRabbitMqPort=35972",
             "--Embedding:LocalPostgresPort=35832", "--Embedding:ApiReplicas=2"]);
        await using var app = await builder.BuildAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var states = new System.Collections.Concurrent.ConcurrentDictionary<string, string?>();
        _ = Task.Run(async () =>
        {
            await foreach (var e in app.ResourceNotifications.WatchAsync(timeout.Token))
                if (e.Resource.Name == "api") states[e.ResourceId] = e.Snapshot.State?.Text;
        }, timeout.Token);
        await app.StartAsync(timeout.Token);
        await app.ResourceNotifications.WaitForResourceHealthyAsync("api", timeout.Token);

        await TestEnvironment.WaitUntilAsync(() => states.Values.Count(s => s == KnownResourceStates.Running) == 2, TimeSpan.FromMinutes(1));
        using var http = app.CreateHttpClient("api");
        for (var i = 0; i < 10; i++)
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/models", timeout.Token)).StatusCode);
    }
}
