using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Embedding.Api.Services;
using Embedding.Tests.Infrastructure;
using Embedding.Worker;
using Embedding.Worker.Backends;
using Embedding.Worker.Batching;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Embedding.Tests;

/// <summary>Servers failing under a running system: each request is answered once (served, or a clear retryable error), none hangs, none is lost.</summary>
public sealed class FaultTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>Redis stops: requests are served without it. Redis comes back: caching in Redis resumes.</summary>
    [Fact]
    public async Task Redis_stopped_serves_uncached_and_caching_resumes_when_it_returns()
    {
        var port = TestEnvironment.ClosedPort();
        var redis = StartRedis(port);
        try
        {
            await using var stack = new EmbeddingStack(backend: "Fake", redis: $"127.0.0.1:{port},abortConnect=false");
            using var probe = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port},abortConnect=false");

            // The API connects to Redis in the background and writes nothing to it until then.
            var apiRedis = stack.ApiServices.GetRequiredService<IConnectionMultiplexer>();
            await TestEnvironment.WaitUntilAsync(() => apiRedis.IsConnected, TimeSpan.FromSeconds(10));
            Assert.Equal(HttpStatusCode.OK, (await Embed(stack, "before the outage")).StatusCode);
            await TestEnvironment.WaitUntilAsync(() => probe.GetDatabase().KeyExists(EmbeddingCache.Key(stack.Model, BackendNumerics.Fake, "before the outage")), TimeSpan.FromSeconds(10), pollMilliseconds: 200);

            redis.Kill();
            await redis.WaitForExitAsync();
            for (var i = 0; i < 5; i++)
            {
                var response = await Embed(stack, $"during the outage {i}");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(FakeBackend.VectorFor($"during the outage {i}", 64), await VectorOf(response));
            }

            redis = StartRedis(port);  // empty: no persistence
            var n = 0;
            // Each try is a new text; it counts once Redis holds it (written after the answer, so give it a moment).
            await TestEnvironment.WaitUntilAsync(async () =>
            {
                var text = $"after the outage {n++}";
                Assert.Equal(HttpStatusCode.OK, (await Embed(stack, text)).StatusCode);
                try
                {
                    await TestEnvironment.WaitUntilAsync(() => probe.GetDatabase().KeyExists(EmbeddingCache.Key(stack.Model, BackendNumerics.Fake, text)), TimeSpan.FromSeconds(2), pollMilliseconds: 50);
                    return true;
                }
                catch (TimeoutException)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(60), pollMilliseconds: 200);
        }
        finally
        {
            if (!redis.HasExited) redis.Kill();
            redis.Dispose();
        }
    }

    /// <summary>
    /// RabbitMQ's broker application is stopped and started again (its own node, so other tests are unaffected)
    /// while requests are in flight: some are on the queue, some held by the worker mid-batch when the broker goes.
    /// API and worker reconnect; every request ends, in 200 with its own vector or a retryable 503 that a retry then
    /// answers, so none is lost; new requests are served once the broker is back.
    /// </summary>
    [Fact]
    public async Task RabbitMQ_restart_while_requests_are_in_flight_ends_every_request_and_service_resumes()
    {
        await using var broker = await Broker.StartAsync(output);
        // One text a second: the 30 requests below take the worker about thirty seconds, far longer than stopping the broker
        // (rabbitmqctl itself takes seconds on a loaded machine).
        await using var stack = new EmbeddingStack(backend: "Fake", redis: null, requestTimeoutSeconds: 60,
            api: new() { ["ConnectionStrings:messaging"] = broker.Amqp },
            worker: new() { ["ConnectionStrings:messaging"] = broker.Amqp, ["Worker:Fake:DelayMilliseconds"] = "1000", ["Worker:MaxBatchSize"] = "1" });
        Assert.Equal(HttpStatusCode.OK, (await Embed(stack, "warm up")).StatusCode);
        var batcher = stack.WorkerServices(0).GetRequiredService<TokenBudgetBatcher>();

        var texts = Enumerable.Range(0, 30).Select(i => $"in flight {i}").ToArray();
        var inFlight = texts.Select(t => Embed(stack, t)).ToArray();
        // The fault hits while the worker is computing a batch of them and the rest wait behind it.
        await TestEnvironment.WaitUntilAsync(() => batcher.Running == 1 || inFlight.All(r => r.IsCompleted), TimeSpan.FromSeconds(30));
        Assert.True(inFlight.Count(r => !r.IsCompleted) > 20, "the requests were answered before the fault; slow the fake backend down");
        await broker.CtlAsync("stop_app");
        var acrossTheOutage = inFlight.Where(r => !r.IsCompleted).ToList();  // sent before the broker went, unanswered once it was gone
        output.WriteLine($"{acrossTheOutage.Count} of {inFlight.Length} requests in flight when the broker stopped ({batcher.Running} batch on the worker)");
        Assert.NotEmpty(acrossTheOutage);
        await broker.CtlAsync("start_app");

        var ended = await Task.WhenAll(inFlight).WaitAsync(TimeSpan.FromSeconds(120));  // none hangs
        var toRetry = new List<string>();
        for (var i = 0; i < ended.Length; i++)
        {
            var response = ended[i];
            Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable, $"{texts[i]}: got {(int)response.StatusCode}");
            if (response.StatusCode == HttpStatusCode.OK) Assert.Equal(FakeBackend.VectorFor(texts[i], 64), await VectorOf(response));
            else
            {
                Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero, $"{texts[i]}: a 503 without Retry-After");
                toRetry.Add(texts[i]);
            }
        }
        var servedAcross = acrossTheOutage.Count(r => r.Result.StatusCode == HttpStatusCode.OK);
        output.WriteLine($"{ended.Length - toRetry.Count} served ({servedAcross} of them across the outage), {toRetry.Count} told to retry");

        // Back to normal: both sides reconnected; what was told to retry is answered, with its own vector.
        var after = 0;
        await TestEnvironment.WaitUntilAsync(async () => (await Embed(stack, $"after restart {after++}")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(60), pollMilliseconds: 200);
        foreach (var text in toRetry)
        {
            var response = await Embed(stack, text);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(FakeBackend.VectorFor(text, 64), await VectorOf(response));
        }
        for (var i = 0; i < 5; i++) Assert.Equal(HttpStatusCode.OK, (await Embed(stack, $"steady {i}")).StatusCode);
    }

    private static Task<HttpResponseMessage> Embed(EmbeddingStack stack, string text) =>
        stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = text });

    private static async Task<float[]> VectorOf(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();

    private static Process StartRedis(int port)
    {
        var process = Process.Start(new ProcessStartInfo("redis-server", ["--bind", "127.0.0.1", "--port", port.ToString(), "--save", "", "--appendonly", "no"])
            { RedirectStandardOutput = true, RedirectStandardError = true })!;
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        return process;
    }

    /// <summary>A RabbitMQ node of this test's own (scripts/test-servers.sh on free ports), stopped by PID at the end.</summary>
    private sealed class Broker : IAsyncDisposable
    {
        private readonly string _state;
        private readonly Dictionary<string, string> _env;
        public string Amqp { get; }

        private Broker(string state, Dictionary<string, string> env, string amqp) => (_state, _env, Amqp) = (state, env, amqp);

        public static async Task<Broker> StartAsync(Xunit.Abstractions.ITestOutputHelper output)
        {
            var state = Directory.CreateTempSubdirectory("rabbit-fault-").FullName;
            var amqpPort = FreePort(20000, 40000);  // the node's distribution port is AMQP + 20000: keep it below 65536
            var env = new Dictionary<string, string>
            {
                ["STATE"] = state,
                ["AMQP_PORT"] = amqpPort.ToString(),
                ["MGMT_PORT"] = FreePort(20000, 40000).ToString(),
                ["REDIS_PORT"] = new Uri("redis://" + TestEnvironment.Redis).Port.ToString(),  // already running: not started again
            };
            var broker = new Broker(state, env, $"amqp://guest:guest@127.0.0.1:{amqpPort}/");
            var (code, text) = await broker.RunAsync("bash", Path.Combine(TestEnvironment.RepoRoot, "scripts", "test-servers.sh"));
            output.WriteLine(text);
            Assert.True(code == 0, "could not start a RabbitMQ node: " + text);
            return broker;
        }

        private static int FreePort(int from, int to)
        {
            for (var attempt = 0; attempt < 100; attempt++)
            {
                var port = Random.Shared.Next(from, to);
                try
                {
                    using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, port);
                    listener.Start();
                    return port;
                }
                catch (System.Net.Sockets.SocketException)
                {
                }
            }
            throw new InvalidOperationException("no free port");
        }

        /// <summary>rabbitmqctl against this node, run directly (the packaged wrapper switches to the rabbitmq user and its cookie).</summary>
        public async Task CtlAsync(string command)
        {
            var (code, text) = await RunAsync("/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", $"embedding-test-{_env["AMQP_PORT"]}@localhost", command);
            Assert.True(code == 0, $"rabbitmqctl {command} failed: {text}");
        }

        private Task<(int, string)> RunAsync(string file, params string[] args)
        {
            var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var (k, v) in _env) start.Environment[k] = v;
            start.Environment["HOME"] = Path.Combine(_state, "rabbitmq");
            return AppHostPublisher.RunAsync(start, TimeSpan.FromMinutes(2));
        }

        public async ValueTask DisposeAsync()
        {
            await RunAsync("bash", Path.Combine(TestEnvironment.RepoRoot, "scripts", "test-servers.sh"), "stop");
            try { Directory.Delete(_state, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
