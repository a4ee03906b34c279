using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Embedding.AppHost.Scaling;
using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using Embedding.Worker.Backends;
using Embedding.Scaling;

namespace Embedding.Tests;

/// <summary>The scaling policy as a pure function, and the autoscaler taking a tier from zero and back on real RabbitMQ.</summary>
public sealed class ScalingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly ScalingPolicy Policy = new()
    {
        TargetQueueLength = 10, ActivationQueueLength = 0, MinReplicas = 0, MaxReplicas = 4, CooldownSeconds = 60, StartupSeconds = 30,
    };

    [Theory]
    // depth, current, seconds since the queue last needed the current count, starting -> desired
    [InlineData(0, 0, 3600, 0, 0)]    // idle and cold: stays at zero
    [InlineData(1, 0, 3600, 0, 1)]    // one request wakes the tier
    [InlineData(10, 0, 0, 0, 1)]      // exactly one replica's worth
    [InlineData(11, 0, 0, 0, 2)]      // a message more needs a second
    [InlineData(35, 1, 0, 0, 4)]      // ceil(35 / 10)
    [InlineData(1000, 2, 0, 0, 4)]    // capped at MaxReplicas
    [InlineData(5, 3, 0, 0, 3)]       // needs one now, but needed three within the cooldown: hold
    [InlineData(5, 3, 60, 0, 1)]      // has not needed three for the cooldown: down to what it needs
    [InlineData(0, 3, 30, 0, 3)]      // idle inside the cooldown: keep the replicas warm
    [InlineData(0, 3, 60, 0, 0)]      // idle for the cooldown: back to zero
    [InlineData(0, 2, 600, 1, 1)]     // a replica still loading its model is never scaled away
    [InlineData(35, 1, 0, 1, 1)]      // the queue built up during a cold start: wait for that replica, add none yet
    public void Desired_replicas_follow_the_queue(int depth, int current, int idleSeconds, int starting, int expected) =>
        Assert.Equal(expected, Policy.DesiredReplicas(depth, current, TimeSpan.FromSeconds(idleSeconds), starting));

    [Theory]
    // seconds since the queue last needed 1, 2 and 3 replicas -> desired, with 3 running and nothing queued now
    [InlineData(10, 10, 10, 3)]      // all needed lately: hold
    [InlineData(10, 10, 40, 2)]      // three not needed for the scale-in window (30 s): down to two
    [InlineData(10, 40, 40, 1)]      // two neither: down to the last replica, which keeps its own cooldown
    [InlineData(59, 400, 400, 1)]    // the last replica stays for the cooldown (60 s)
    [InlineData(60, 400, 400, 0)]    // then leaves
    public void Extra_replicas_leave_after_the_scale_in_window_the_last_after_the_cooldown(int since1, int since2, int since3, int expected)
    {
        var policy = new ScalingPolicy { TargetQueueLength = 10, MaxReplicas = 4, CooldownSeconds = 60, ScaleInSeconds = 30, StartupSeconds = 30 };
        var since = new[] { 0, since1, since2, since3 };
        Assert.Equal(expected, policy.DesiredReplicas(0, 3, k => TimeSpan.FromSeconds(since[k])));
        // Unset, the scale-in window is the cooldown.
        Assert.Equal(60, new ScalingPolicy { CooldownSeconds = 60 }.ScaleInWindowSeconds);
    }

    [Theory]
    [InlineData(0, 0.5, 0)]    // a trickle below the rate's activation, nothing waiting: stays at zero
    [InlineData(0, 2.0, 1)]    // messages flow though the queue reads empty (a GPU drains it in milliseconds): one replica
    [InlineData(0, 120.0, 3)]  // 120 messages/s at 50 per replica
    [InlineData(45, 10.0, 3)]  // depth asks for more than the rate: the larger wins (KEDA, several triggers)
    [InlineData(2, 0.0, 0)]    // two waiting, below the depth activation
    public void A_rate_trigger_adds_to_the_depth_trigger(int depth, double rate, int needed)
    {
        var policy = new ScalingPolicy { TargetQueueLength = 20, ActivationQueueLength = 3, TargetMessageRate = 50, ActivationMessageRate = 1, MaxReplicas = 4 };
        Assert.Equal(needed, policy.NeededFor(depth, rate));
    }

    [Fact]
    public void Activation_threshold_and_minimum_are_honoured()
    {
        var policy = new ScalingPolicy { TargetQueueLength = 10, ActivationQueueLength = 5, MinReplicas = 1, MaxReplicas = 3, CooldownSeconds = 60, StartupSeconds = 60 };
        Assert.Equal(1, policy.DesiredReplicas(0, 0, TimeSpan.FromHours(1)));   // never below the minimum
        Assert.Equal(1, policy.DesiredReplicas(5, 1, TimeSpan.Zero));             // at the threshold: not active, holds
        Assert.Equal(1, policy.DesiredReplicas(6, 1, TimeSpan.Zero));             // active: ceil(6 / 10) = 1
        Assert.Equal(1, policy.DesiredReplicas(0, 3, TimeSpan.FromHours(1)));   // idle long: back to the minimum
    }

    [Fact]
    public void Invalid_policies_are_rejected_with_reasons()
    {
        Assert.Empty(new ScalingPolicy().Validate());
        var errors = new ScalingPolicy { TargetQueueLength = 0, MaxReplicas = 0, PollingIntervalSeconds = 0, CooldownSeconds = 10, StartupSeconds = 60, ScaleInSeconds = -1 }.Validate().ToList();
        Assert.Contains(errors, e => e.Contains("TargetQueueLength"));
        Assert.Contains(errors, e => e.Contains("MaxReplicas"));
        Assert.Contains(errors, e => e.Contains("PollingIntervalSeconds"));
        Assert.Contains(errors, e => e.Contains("never scaled away"));
        Assert.Contains(errors, e => e.Contains("ScaleInSeconds"));
    }

    /// <summary>
    /// Requests sent while no worker runs wait on the queue; the autoscaler (reading real RabbitMQ) starts workers,
    /// more of them for a deeper queue, every request is answered with its own vector, and once the queue has been
    /// idle for the cooldown the tier is back at zero.
    /// </summary>
    [Fact]
    public async Task A_cpu_standby_serves_while_no_regular_worker_consumes_and_steps_aside_when_one_does()
    {
        await using var stack = new EmbeddingStack(backend: "Fake", workers: 0, redis: null);
        var texts = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();  // texts each role's batcher took
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) => { if (instrument.Name == "embedding.batcher.queued") l.EnableMeasurementEvents(instrument); };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? model = null, role = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "embedding.model") model = tag.Value as string;
                if (tag.Key == "embedding.worker.role") role = tag.Value as string;
            }
            if (model == stack.Model && role is not null) texts.AddOrUpdate(role, value, (_, n) => n + value);
        });
        listener.Start();
        async Task SendAsync(string prefix, int count)
        {
            for (var i = 0; i < count; i++)
                Assert.Equal(HttpStatusCode.OK, (await stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = $"{prefix} {i}" })).StatusCode);
        }

        stack.StartWorker(new() { ["Worker:ConsumerPriority"] = "-1" });  // the standby alone: it serves
        await SendAsync("night", 5);
        Assert.Equal(5, texts.GetValueOrDefault("standby"));

        stack.StartWorker();  // a regular worker (the GPU) comes up: RabbitMQ prefers it while it has room
        await SendAsync("day", 20);
        Assert.Equal(20, texts.GetValueOrDefault("primary"));
        Assert.Equal(5, texts.GetValueOrDefault("standby"));

        await stack.StopOneWorkerAsync();  // the regular worker scales in: the standby takes over again
        await SendAsync("evening", 5);
        Assert.Equal(10, texts.GetValueOrDefault("standby"));
    }

    [Fact]
    public async Task Autoscaler_takes_a_tier_from_zero_to_several_and_back_to_zero()
    {
        await using var stack = new EmbeddingStack(backend: "Fake", workers: 0, redis: null, requestTimeoutSeconds: 90,
            worker: new() { ["Worker:Fake:DelayMilliseconds"] = "300", ["Worker:MaxBatchSize"] = "4", ["Worker:PrefetchCount"] = "4" });
        var policy = new ScalingPolicy { TargetQueueLength = 8, MaxReplicas = 3, PollingIntervalSeconds = 1, CooldownSeconds = 3, StartupSeconds = 3 };
        await using (var run = new AutoscalerRun(stack, policy, output))
        {
            var (replicas, probe) = (run.Replicas, run.Probe);
            Assert.Equal(0, stack.WorkerCount);
            var texts = Enumerable.Range(0, 40).Select(i => $"scaled from zero {i}").ToArray();
            var responses = await Task.WhenAll(texts.Select(t => stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = t })))
                .WaitAsync(TimeSpan.FromSeconds(120));

            for (var i = 0; i < texts.Length; i++)
            {
                Assert.Equal(HttpStatusCode.OK, responses[i].StatusCode);
                var json = await responses[i].Content.ReadFromJsonAsync<JsonElement>();
                Assert.Equal(FakeBackend.VectorFor(texts[i], 64), json.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray());
            }
            Assert.True(replicas.Peak >= 2, $"40 queued messages at 8 per replica should wake more than one worker (peak {replicas.Peak})");

            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (stack.WorkerCount > 0 && DateTime.UtcNow < deadline) await Task.Delay(200);
            Assert.Equal(0, stack.WorkerCount);
            Assert.Equal(0, await probe.GetDepthAsync(EmbeddingQueues.ForModel(stack.Model) + "_error", default));
        }
    }

    /// <summary>
    /// A reranker tier on the same autoscaler: /v1/rerank requests wait on the tier's queue (real RabbitMQ) while no
    /// worker runs, the autoscaler starts reranker workers (the tiny ONNX reranker), each request gets the official
    /// reference scores, and after the cooldown the tier is back at zero.
    /// </summary>
    [Fact]
    public async Task Autoscaler_takes_a_reranker_tier_from_zero_and_back_to_zero()
    {
        await using var stack = new EmbeddingStack(backend: "Onnx", workers: 0, redis: null, requestTimeoutSeconds: 90,
            worker: new() { ["Worker:Kind"] = "Reranker", ["Worker:Onnx:ModelPath"] = Path.Combine(TestEnvironment.RepoRoot, "models", "qwen3-reranker-tiny") },
            api: new() { ["Api:Models:0:Kind"] = "Reranker", ["Api:Models:0:Dimensions"] = "1", ["Api:Models:0:Matryoshka"] = "false" });
        var policy = new ScalingPolicy { TargetQueueLength = 8, MaxReplicas = 2, PollingIntervalSeconds = 1, CooldownSeconds = 3, StartupSeconds = 3 };
        await using (var run = new AutoscalerRun(stack, policy, output))
        {
            var (replicas, probe) = (run.Replicas, run.Probe);
            Assert.Equal(0, stack.WorkerCount);
            // Each of the official scoring's queries (default instruction, nothing cut) with its documents, all at once.
            var queries = RerankerTests.Cases.Where(c => c.Instruction is null && c.MaxLength == 8192).GroupBy(c => c.Query).Select(g => g.ToList()).ToList();
            var responses = await Task.WhenAll(queries.Select(q => stack.Client.PostAsJsonAsync("/v1/rerank",
                new { model = stack.Model, query = q[0].Query, documents = q.Select(c => c.Document).ToArray() }))).WaitAsync(TimeSpan.FromSeconds(120));

            for (var i = 0; i < queries.Count; i++)
            {
                Assert.Equal(HttpStatusCode.OK, responses[i].StatusCode);
                var results = (await responses[i].Content.ReadFromJsonAsync<JsonElement>()).GetProperty("results").EnumerateArray().ToList();
                Assert.Equal(queries[i].Count, results.Count);
                foreach (var r in results)
                    Assert.InRange(r.GetProperty("relevance_score").GetDouble(), queries[i][r.GetProperty("index").GetInt32()].Score - 1e-4,
                                   queries[i][r.GetProperty("index").GetInt32()].Score + 1e-4);
            }
            Assert.True(replicas.Peak >= 1);

            await TestEnvironment.WaitUntilAsync(() => stack.WorkerCount == 0, TimeSpan.FromSeconds(60));
            Assert.Equal(0, stack.WorkerCount);
            Assert.Equal(0, await probe.GetDepthAsync(EmbeddingQueues.ForModel(stack.Model) + "_error", default));
        }
    }

    /// <summary>
    /// The autoscaler over a stack's in-process workers, reading the tier's real queue, until disposed: disposing stops
    /// it and checks it stopped because it was told to, not by a fault of its own.
    /// </summary>
    private sealed class AutoscalerRun : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _scaling;

        public AutoscalerRun(EmbeddingStack stack, ScalingPolicy policy, Xunit.Abstractions.ITestOutputHelper output)
        {
            Replicas = new StackReplicas(stack);
            Probe = new QueueDepthProbe(new Uri(TestEnvironment.RabbitMqManagement), TestEnvironment.RabbitMq);
            var autoscaler = new QueueAutoscaler(EmbeddingQueues.ForModel(stack.Model), policy, Probe.GetLoadAsync, Replicas,
                new TestOutputLogger(output, "autoscaler"));
            _scaling = autoscaler.RunAsync(_stop.Token);
        }

        public StackReplicas Replicas { get; }
        public QueueDepthProbe Probe { get; }

        public async ValueTask DisposeAsync()
        {
            try
            {
                await _stop.CancelAsync();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _scaling);
            }
            finally
            {
                await Probe.DisposeAsync();
                _stop.Dispose();
            }
        }
    }

    /// <summary>In-process workers as the autoscaler's replicas.</summary>
    private sealed class StackReplicas(EmbeddingStack stack) : IWorkerReplicas
    {
        public int Peak { get; private set; }

        public (int Current, int Starting) Count() => (stack.WorkerCount, 0);

        public async Task StartOneAsync(CancellationToken ct)
        {
            // Starting a host blocks while it starts: keep that off the thread pool.
            await Task.Factory.StartNew(() => stack.StartWorker(), ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            Peak = Math.Max(Peak, stack.WorkerCount);
        }

        public Task StopOneAsync(CancellationToken ct) => stack.StopOneWorkerAsync();
    }
}
