using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Embedding.AppHost;
using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using Embedding.Worker;
using Embedding.Worker.Backends;
using Microsoft.Extensions.Configuration;

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

    // The tier plan (TierPlan.For): how each tier of the AppHost's appsettings.json becomes processes, without a broker.

    private static EmbeddingSettings AppHostSettings() =>
        new ConfigurationBuilder().AddJsonFile(Path.Combine(TestEnvironment.RepoRoot, "src", "Embedding.AppHost", "appsettings.json"))
            .Build().GetSection("Embedding").Get<EmbeddingSettings>()!.Validated();

    public static TheoryData<string, bool, PlanMode> Plans()
    {
        var data = new TheoryData<string, bool, PlanMode>();
        foreach (var tier in AppHostSettings().Tiers)
            foreach (var mode in new[] { PlanMode.Run, PlanMode.Publish })
            {
                if (tier.CpuModel is not null) data.Add(tier.Name, false, mode);
                if (tier.IsGpuTier) data.Add(tier.Name, true, mode);
            }
        return data;
    }

    /// <summary>What the worker binds from the plan's keys is the plan's options: nothing lost or renamed on the way.</summary>
    private static WorkerOptions Bound(WorkerPlan plan) =>
        new ConfigurationBuilder().AddInMemoryCollection(plan.Settings.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value))).Build()
            .GetSection(WorkerOptions.SectionName).Get<WorkerOptions>()!;

    [Theory]
    [MemberData(nameof(Plans))]
    public void Each_tier_plans_its_workers_engine_and_listing(string name, bool onGpu, PlanMode mode)
    {
        var settings = AppHostSettings();
        var tier = settings.Tiers.Single(t => t.Name == name);
        var plan = TierPlan.For(tier, settings, onGpu, mode, "/apphost");
        var worker = Bound(plan.Worker);

        // Listed as configured, aliases included, and its workers consume its queue.
        // A reranker's one score is listed as one dimension that no request may cut.
        var reranker = tier.Kind == ModelKind.Reranker;
        Assert.Equal((tier.Name, tier.Kind, reranker ? 1 : tier.Dimensions), (plan.Listing.Name, plan.Listing.Kind, plan.Listing.Dimensions));
        Assert.Equal(tier.Kind, worker.Kind);
        if (reranker) Assert.False(plan.Listing.Matryoshka);
        Assert.Equal(tier.Aliases, plan.Listing.Aliases);
        Assert.Equal(EmbeddingQueues.ForModel(tier.Name), plan.Queue);
        Assert.Equal(tier.Name, worker.Model);
        Assert.Equal(tier.MaxBatchTokens ?? new WorkerOptions().MaxBatchTokens, worker.MaxBatchTokens);
        Assert.Equal(tier.MaxWaitMilliseconds ?? new WorkerOptions().MaxWaitMilliseconds, worker.MaxWaitMilliseconds);
        Assert.Equal(settings.Scaling.For(tier.Scaling).StartupSeconds, plan.Scaling.StartupSeconds);
        Assert.Equal(plan.Worker.Settings, (plan.Worker with { Options = worker }).Settings);

        if (onGpu && tier.IsCudaTier)
        {
            // Its ONNX export on the pod's GPU, in the worker itself: no engine, the CUDA image, batches as measured on an H200.
            Assert.Null(plan.Engine);
            Assert.Equal((BackendKind.Onnx, OnnxDevice.Cuda, 0), (worker.Backend, worker.Onnx.Device, worker.Onnx.DeviceId));
            Assert.Equal((256, 1), (worker.MaxBatchSize, worker.MaxConcurrentBatches));
            Assert.Equal(tier.GpuType?.KubernetesProduct, plan.Worker.Gpu!.Product);
            Assert.Equal(TierPlan.CudaWorkerImage, plan.Worker.Image);
            // The identity its workers answer with, so that no other backend's vectors answer for it from the cache.
            var directory = mode == PlanMode.Run ? Path.GetFullPath(tier.OnnxModelPath!, "/apphost") : "/models/" + Path.GetFileName(tier.OnnxModelPath);
            Assert.Equal(directory, worker.Onnx.ModelPath);
            Assert.Equal($"onnx:{Path.GetFileName(tier.OnnxModelPath)}/{tier.OnnxFile}", plan.Listing.Numerics);
            Assert.Equal(BackendNumerics.Onnx(worker.Onnx, directory, tier.OnnxFile!), plan.Listing.Numerics);
            Assert.Equal(mode == PlanMode.Publish, plan.Worker.Volumes.Any(v => v is { Target: "/models", ReadOnly: true }));
            return;
        }
        if (onGpu)
        {
            Assert.Equal(BackendKind.OpenAI, worker.Backend);
            Assert.Equal((tier.EngineModel, tier.Dimensions, 2), (worker.OpenAI.Model, worker.OpenAI.Dimensions, worker.MaxConcurrentBatches));
            Assert.Equal(new Uri($"http://127.0.0.1:{SglangEngine.Port}"), worker.OpenAI.BaseUrl);
            var args = plan.Engine!.Args.ToList();
            Assert.Equal(tier.EngineModel, args[args.IndexOf("--model-path") + 1]);
            foreach (var flag in new[] { "--is-embedding", "--dtype", "--mem-fraction-static", "--max-running-requests", "--chunked-prefill-size" })
                Assert.Contains(flag, args);
            // Worker and engine count the same limit: SGLang refuses input_token_num >= context_len, so the worker and the
            // API's listing allow one token less; the worker says which dtype made its vectors, as the listing does.
            Assert.Equal(worker.OpenAI.ContextLength.ToString(), args[args.IndexOf("--context-length") + 1]);
            Assert.Equal(worker.OpenAI.ContextLength - 1, plan.Listing.InputTokenLimit);
            Assert.Equal(args[args.IndexOf("--dtype") + 1], worker.OpenAI.Dtype);
            Assert.Equal($"engine:{tier.EngineModel}:{worker.OpenAI.Dtype}", plan.Listing.Numerics);
            var listed = plan.ListingSettings("Api:Models:0").ToDictionary(kv => kv.Key, kv => kv.Value);
            Assert.Equal((worker.OpenAI.ContextLength - 1).ToString(), listed["Api:Models:0:InputTokenLimit"]);
            Assert.Equal(plan.Listing.Numerics, listed["Api:Models:0:Numerics"]);
            Assert.Equal(tier.GpuType?.KubernetesProduct, plan.Engine.GpuProduct);
            Assert.Null(plan.Download);
            return;
        }
        Assert.Null(plan.Engine);
        Assert.Null(plan.Standby);
        Assert.Null(plan.Worker.Gpu);
        Assert.Equal((BackendKind.Onnx, OnnxDevice.Cpu), (worker.Backend, worker.Onnx.Device));
        Assert.Null(plan.Listing.Numerics);  // learned from the workers' answers (the file they run is resolved at load)
        var model = tier.CpuModel!;
        Assert.Equal(model.OnnxFile, worker.Onnx.OnnxFile);
        if (model.FromHub)
        {
            Assert.Equal((model.HubRepository, model.HubRevision ?? "main"), (worker.Onnx.HubRepository, worker.Onnx.HubRevision));
            // Published, replicas share the downloaded files; run here, a model-{tier} resource fetches them first.
            Assert.Equal(mode == PlanMode.Publish ? "/model-cache" : new HubOptions().CacheDirectory, worker.Hub.CacheDirectory);
            Assert.Equal(mode == PlanMode.Run, plan.Download is not null);
        }
        else
        {
            var expected = mode == PlanMode.Run ? Path.GetFullPath(model.LocalPath!, "/apphost") : "/models/" + Path.GetFileName(model.LocalPath);
            Assert.Equal(expected, worker.Onnx.ModelPath);
            Assert.Equal(mode == PlanMode.Publish, plan.Worker.Volumes.Any(v => v is { Target: "/models", ReadOnly: true }));
        }
    }

    [Fact]
    public void A_gpu_tiers_standby_runs_its_onnx_export_at_a_lower_priority()
    {
        var settings = AppHostSettings();
        var tier = settings.Tiers.Single(t => t.Name == "qwen3-embedding-0.6b");
        tier.Standby = new StandbySettings { Replicas = 2 };

        var plan = TierPlan.For(tier, settings, onGpu: true, PlanMode.Publish, "/apphost");
        var standby = Bound(plan.Standby!);

        Assert.Equal((BackendKind.Onnx, -1, 2), (standby.Backend, standby.ConsumerPriority, plan.Standby!.Replicas));
        Assert.Equal((tier.Name, tier.HubRepository), (standby.Model, standby.Onnx.HubRepository));  // the tier's queue, its own export
    }

    [Fact]
    public void The_plan_writes_what_it_decides_and_leaves_the_workers_defaults_alone()
    {
        var settings = AppHostSettings();
        var tier = settings.Tiers.Single(t => t.Name == "qwen3-embedding-0.6b");

        var keys = TierPlan.For(tier, settings, onGpu: false, PlanMode.Run, "/apphost").Worker.Settings.Select(kv => kv.Key).ToList();
        Assert.DoesNotContain("Worker:Hub:Endpoint", keys);  // the worker's own HF_ENDPOINT, unless the AppHost names a mirror
        Assert.DoesNotContain("Worker:Hub:Token", keys);
        Assert.DoesNotContain("Worker:MaxBatchSize", keys);

        settings.HubEndpoint = "http://127.0.0.1:9/mirror";
        var mirrored = Bound(TierPlan.For(tier, settings, onGpu: false, PlanMode.Run, "/apphost").Worker);
        Assert.Equal("http://127.0.0.1:9/mirror", mirrored.Hub.Endpoint);

        // An option the plan sets is written with no line of its own for it.
        var plan = TierPlan.For(tier, settings, onGpu: false, PlanMode.Run, "/apphost");
        plan.Worker.Options.Onnx.IntraOpThreads = 3;
        Assert.Contains(new KeyValuePair<string, string>("Worker:Onnx:IntraOpThreads", "3"), plan.Worker.Settings);
        Assert.Equal("Worker:OpenAI:BaseUrl", ConfigurationKeys.Key<WorkerOptions>(WorkerOptions.SectionName, o => o.OpenAI.BaseUrl));
    }

    /// <summary>
    /// A tier whose ONNX export runs on CUDA is a GPU tier: served where the GPU is switched on (its GPU form is made for
    /// the CUDA provider, so not on CPU where it is off), and its standby needs a CPU export of its own.
    /// </summary>
    [Fact]
    public void A_cuda_tier_is_served_only_where_the_gpu_is_on()
    {
        var settings = AppHostSettings();
        var tier = settings.Tiers.Single(t => t.Name == "qwen3-embedding-4b-cuda");
        Assert.True(tier.IsGpuTier);
        Assert.DoesNotContain(tier, settings.ServedTiers());
        settings.Gpu.Enabled = true;
        Assert.Contains(tier, settings.ServedTiers());
        Assert.True(settings.RunsOnGpu(tier));

        var off = Assert.Throws<InvalidOperationException>(() => TierPlan.For(tier, settings, onGpu: false, PlanMode.Run, "/apphost"));
        Assert.Contains("Embedding:Gpu:Enabled", off.Message);
        tier.Standby = new StandbySettings();
        Assert.Throws<InvalidOperationException>(() => TierPlan.For(tier, settings, onGpu: true, PlanMode.Publish, "/apphost"));
        tier.Standby = new StandbySettings { HubRepository = "example/qwen3-embedding-4b-onnx" };
        var standby = Bound(TierPlan.For(tier, settings, onGpu: true, PlanMode.Publish, "/apphost").Standby!);
        Assert.Equal((BackendKind.Onnx, OnnxDevice.Cpu, -1), (standby.Backend, standby.Onnx.Device, standby.ConsumerPriority));

        // Device is an ONNX tier's: an SGLang tier's engine has its own GPU.
        settings.Tiers.Add(new TierSettings { Name = "sglang-on-cuda", Backend = TierBackend.SGLang, Device = OnnxDevice.Cuda });
        Assert.Contains("Device", Assert.Throws<InvalidOperationException>(() => settings.Validated()).Message);
    }

    /// <summary>
    /// Reranker tiers (issue 28) are tiers like the others: each its own queue and workers, told what they serve, scaled by
    /// the same policy; listed for the API with their kind; the 4B one a CUDA tier. A reranker on an SGLang engine is refused.
    /// </summary>
    [Fact]
    public void Reranker_tiers_plan_workers_of_their_own_that_score_pairs()
    {
        var settings = AppHostSettings();
        var rerankers = settings.Tiers.Where(t => t.Kind == ModelKind.Reranker).ToList();
        Assert.Equal(["qwen3-reranker-tiny-test", "qwen3-reranker-0.6b", "qwen3-reranker-4b"], rerankers.Select(t => t.Name));
        Assert.Equal(settings.Tiers.Count, settings.Tiers.Select(t => EmbeddingQueues.ForModel(t.Name)).Distinct().Count());

        settings.Gpu.Enabled = true;
        var plans = settings.Plans(PlanMode.Publish, "/apphost").Where(p => p.Tier.Kind == ModelKind.Reranker).ToList();
        Assert.Equal(rerankers.Select(t => t.Name), plans.Select(p => p.Tier.Name));
        foreach (var plan in plans)
        {
            var worker = Bound(plan.Worker);
            Assert.Equal((ModelKind.Reranker, BackendKind.Onnx), (worker.Kind, worker.Backend));
            Assert.Contains(new KeyValuePair<string, string>("Worker:Kind", "Reranker"), plan.Worker.Settings);
            Assert.Contains(new KeyValuePair<string, string>("Api:Models:7:Kind", "Reranker"), plan.ListingSettings("Api:Models:7"));
            var policy = settings.Scaling.For(plan.Tier.Scaling);
            Assert.Equal((0, policy.MaxReplicas, policy.TargetQueueLength), (plan.Scaling.MinReplicas, plan.Scaling.MaxReplicas, plan.Scaling.TargetQueueLength));
        }
        var gpu = plans.Single(p => p.Tier.Name == "qwen3-reranker-4b");
        Assert.Equal(OnnxDevice.Cuda, Bound(gpu.Worker).Onnx.Device);
        Assert.Equal(TierPlan.CudaWorkerImage, gpu.Worker.Image);
        Assert.Equal("/models/qwen3-reranker-4b-cuda", Bound(gpu.Worker).Onnx.ModelPath);
        var cpu = plans.Single(p => p.Tier.Name == "qwen3-reranker-0.6b");
        Assert.Equal((OnnxDevice.Cpu, "/models/qwen3-reranker-0.6b"), (Bound(cpu.Worker).Onnx.Device, Bound(cpu.Worker).Onnx.ModelPath));
        Assert.Contains("Qwen/Qwen3-Reranker-0.6B", cpu.Listing.Aliases);

        settings.Tiers.Add(new TierSettings { Name = "sglang-reranker", Kind = ModelKind.Reranker, Backend = TierBackend.SGLang, EngineModel = "Qwen/Qwen3-Reranker-8B" });
        Assert.Contains("reranker", Assert.Throws<InvalidOperationException>(() => settings.Validated()).Message);
    }

    /// <summary>On a card without bf16 (a T4) the engine runs float32, and the worker and the listing say so: its vectors are not bf16's.</summary>
    [Fact]
    public void Without_bf16_the_engine_worker_and_listing_all_say_float32()
    {
        var settings = AppHostSettings();
        var tier = settings.Tiers.Single(t => t.Name == "qwen3-embedding-4b");
        foreach (var (bf16, dtype) in new[] { (true, "bfloat16"), (false, "float32") })
        {
            var plan = TierPlan.For(tier, settings, onGpu: true, PlanMode.Publish, "/apphost", bf16);
            var args = plan.Engine!.Args.ToList();
            Assert.Equal(dtype, args[args.IndexOf("--dtype") + 1]);
            Assert.Equal(dtype, Bound(plan.Worker).OpenAI.Dtype);
            Assert.Equal($"engine:{tier.EngineModel}:{dtype}", plan.Listing.Numerics);
        }
        tier.Gpu = "T4";  // the tier's own card decides where the caller does not
        Assert.Equal("engine:Qwen/Qwen3-Embedding-4B:float32", TierPlan.For(tier, settings, onGpu: true, PlanMode.Publish, "/apphost").Listing.Numerics);
    }

    [Fact]
    public void A_cpu_tier_without_an_onnx_export_fails_with_what_it_needs()
    {
        var settings = AppHostSettings();
        var tier = settings.Tiers.Single(t => t.Name == "qwen3-embedding-4b");
        var error = Assert.Throws<InvalidOperationException>(() => TierPlan.For(tier, settings, onGpu: false, PlanMode.Run, "/apphost"));
        Assert.Contains("OnnxModelPath or HubRepository", error.Message);
    }

    /// <summary>
    /// Every option of the worker, set to something other than its default, reaches the worker unchanged through the
    /// plan's keys: a property added to WorkerOptions needs no line in the AppHost, and a type the keys cannot carry fails here.
    /// </summary>
    [Fact]
    public void Every_worker_option_survives_the_trip_through_configuration_keys()
    {
        var options = new WorkerOptions();
        var set = ChangeEverything(options);
        var plan = new WorkerPlan(options, [], FromHub: false, PlanMode.Run);

        Assert.Equal(set, plan.Settings.Count);
        Assert.Equal(plan.Settings, (plan with { Options = Bound(plan) }).Settings);
    }

    /// <summary>Sets every settable scalar property (nested sections too) to a value that differs from its default; returns how many.</summary>
    private static int ChangeEverything(object target)
    {
        var count = 0;
        foreach (var property in target.GetType().GetProperties().Where(p => p.SetMethod is { IsPublic: true }))
        {
            var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            var current = property.GetValue(target);
            object? changed = type switch
            {
                _ when type == typeof(string) => $"changed-{property.Name}",
                _ when type == typeof(int) => (int)(current ?? 0) + 3,
                _ when type == typeof(double) => (double)(current ?? 0.0) + 0.125,
                _ when type == typeof(bool) => !(bool)(current ?? false),
                _ when type == typeof(Uri) => new Uri("http://127.0.0.1:9/changed"),
                _ when type.IsEnum => Enum.GetValues(type).Cast<object>().First(v => !Equals(v, current)),
                _ => null,
            };
            if (changed is not null) { property.SetValue(target, changed); count++; continue; }
            Assert.True(current is not null && type.IsClass, $"{property.Name}: a {type.Name} the test (and maybe ConfigurationKeys) cannot write");
            count += ChangeEverything(current!);
        }
        return count;
    }
}
