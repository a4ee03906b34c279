using Embedding.Contracts;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Embedding.AppHost.Scaling;
using Embedding.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Embedding.Scaling;

namespace Embedding.Tests;

/// <summary>
/// `--publisher kubernetes` output, validated against the real Kubernetes and KEDA schemas (kubernetes-models,
/// @kubernetes-models/keda, run by Node.js) and checked against the one scaling policy in the AppHost's configuration.
/// </summary>
public sealed class KubernetesTests
{
    private static readonly string[] GpuTiers = ["qwen3-embedding-0-6b", "qwen3-embedding-4b", "qwen3-embedding-8b"];

    [Fact]
    public async Task Published_manifests_are_valid_and_scale_every_tier_to_zero_by_the_policy()
    {
        var objects = await PublishAndValidateAsync("--Embedding:Gpu:Enabled=true");

        foreach (var (tier, queue, policy) in AppHostTiers())
        {
            var worker = $"worker-{tier}";
            var scaled = Find(objects, "ScaledObject", worker)["spec"]!;
            Assert.Equal(worker, scaled["scaleTargetRef"]!["name"]!.GetValue<string>());
            Assert.Equal(policy.MinReplicas, scaled["minReplicaCount"]!.GetValue<int>());
            Assert.Equal(tier.Contains("tiny") ? 60 : 300, policy.StartupSeconds);  // GPU tiers load for longer
            Assert.Equal(0, policy.MinReplicas);
            Assert.Equal(policy.MaxReplicas, scaled["maxReplicaCount"]!.GetValue<int>());
            Assert.Equal(policy.PollingIntervalSeconds, scaled["pollingInterval"]!.GetValue<int>());
            Assert.Equal(policy.CooldownSeconds, scaled["cooldownPeriod"]!.GetValue<int>());
            Assert.Equal(policy.StartupSeconds, scaled["initialCooldownPeriod"]!.GetValue<int>());
            Assert.Equal(policy.ScaleInWindowSeconds, scaled["advanced"]!["horizontalPodAutoscalerConfig"]!["behavior"]!["scaleDown"]!["stabilizationWindowSeconds"]!.GetValue<int>());

            var triggers = scaled["triggers"]!.AsArray();
            Assert.Equal(policy.TargetMessageRate > 0 ? 2 : 1, triggers.Count);
            if (policy.TargetMessageRate > 0)
            {
                // The publish-rate trigger beside the depth one (the 4B tier: sampled depth reads 0 while a GPU keeps up).
                var rate = triggers[1]!["metadata"]!;
                Assert.Equal("MessageRate", rate["mode"]!.GetValue<string>());
                Assert.Equal(queue, rate["queueName"]!.GetValue<string>());
                Assert.Equal(policy.TargetMessageRate, double.Parse(rate["value"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture));
                Assert.Equal(policy.ActivationMessageRate, double.Parse(rate["activationValue"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture));
            }
            var trigger = triggers[0]!;
            Assert.Equal("rabbitmq", trigger["type"]!.GetValue<string>());
            var metadata = trigger["metadata"]!;
            Assert.Equal("http", metadata["protocol"]!.GetValue<string>());  // counts unacknowledged messages too
            Assert.Equal(queue, metadata["queueName"]!.GetValue<string>());
            Assert.Equal("QueueLength", metadata["mode"]!.GetValue<string>());
            Assert.Equal(policy.TargetQueueLength.ToString(), metadata["value"]!.GetValue<string>());
            Assert.Equal(policy.ActivationQueueLength.ToString(), metadata["activationValue"]!.GetValue<string>());

            // The trigger's credentials come from a secret holding the management API's URL.
            var authName = trigger["authenticationRef"]!["name"]!.GetValue<string>();
            var secretRef = Find(objects, "TriggerAuthentication", authName)["spec"]!["secretTargetRef"]!.AsArray().Single()!;
            Assert.Equal("host", secretRef["parameter"]!.GetValue<string>());
            var host = Find(objects, "Secret", secretRef["name"]!.GetValue<string>())["stringData"]![secretRef["key"]!.GetValue<string>()]!.GetValue<string>();
            Assert.Matches("^http://guest:[^@]+@messaging:15672/$", host);

            var deployment = Find(objects, "Deployment", worker)["spec"]!;
            Assert.Equal(0, deployment["replicas"]!.GetValue<int>());
            var pod = deployment["template"]!["spec"]!;
            Assert.True(pod["terminationGracePeriodSeconds"]!.GetValue<int>() >= 60, "scale-in must leave time to drain");
            var workerContainer = pod["containers"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == worker)!;
            Assert.Equal("/health", workerContainer["readinessProbe"]!["httpGet"]!["path"]!.GetValue<string>());
            Assert.Null(Find(objects, "Service", worker, required: false));
        }

        foreach (var tier in GpuTiers)
        {
            // Worker + engine in one pod: scaling the worker to zero frees the GPU.
            var pod = Find(objects, "Deployment", $"worker-{tier}")["spec"]!["template"]!["spec"]!;
            var containers = pod["containers"]!.AsArray();
            Assert.Equal(2, containers.Count);
            var engine = containers[0]!;
            Assert.Equal($"sglang-{tier}", engine["name"]!.GetValue<string>());
            Assert.StartsWith("lmsysorg/sglang:", engine["image"]!.GetValue<string>());
            Assert.Equal("1", engine["resources"]!["limits"]!["nvidia.com/gpu"]!.ToString());
            Assert.Equal("/health", engine["readinessProbe"]!["httpGet"]!["path"]!.GetValue<string>());
            Assert.Equal(30000, engine["readinessProbe"]!["httpGet"]!["port"]!.GetValue<int>());
            // SGLang's /health sleeps at least a second before it answers (http_server.py): Kubernetes' 1 s default would
            // fail every probe. The startup probe leaves time for the weights' download and CUDA-graph capture.
            var budget = new Embedding.AppHost.GpuSettings().StartupBudgetSeconds;
            Assert.True(budget >= 900, $"startup budget {budget} s");
            foreach (var container in new[] { engine, containers[1]! })
            {
                foreach (var probe in new[] { "readinessProbe", "startupProbe" })
                    Assert.Equal(Embedding.AppHost.SglangEngine.ProbeTimeoutSeconds, container[probe]!["timeoutSeconds"]!.GetValue<int>());
                Assert.True(Embedding.AppHost.SglangEngine.ProbeTimeoutSeconds >= 2);
                var startup = container["startupProbe"]!;
                Assert.True(startup["periodSeconds"]!.GetValue<int>() * startup["failureThreshold"]!.GetValue<int>() >= budget, startup.ToJsonString());
            }
            var args = engine["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();
            Assert.Contains("--is-embedding", args);
            Assert.Equal("0.80", args[args.IndexOf("--mem-fraction-static") + 1]);
            Assert.Equal("4096", args[args.IndexOf("--chunked-prefill-size") + 1]);
            // GPU nodes: of the tier's GPU type where it names one (GPU feature discovery's product label), else any.
            var selector = pod["nodeSelector"]!.AsObject();
            Assert.True(selector["nvidia.com/gpu.product"] is not null || selector["nvidia.com/gpu.present"]?.GetValue<string>() == "true", selector.ToJsonString());
            Assert.Contains(pod["tolerations"]!.AsArray(), t => t!["key"]!.GetValue<string>() == "nvidia.com/gpu");

            var env = containers[1]!["env"]!.AsArray();
            Assert.Equal("http://localhost:30000", env.Single(e => e!["name"]!.GetValue<string>() == "Worker__OpenAI__BaseUrl")!["value"]!.GetValue<string>());
            Assert.Null(Find(objects, "Deployment", $"sglang-{tier}", required: false));
        }

        // The CUDA tier: its worker alone in the pod, holding the GPU itself (the tier's card, one GPU), from the CUDA
        // worker image, its export from the models claim; no engine.
        var cudaPod = Find(objects, "Deployment", "worker-qwen3-embedding-4b-cuda")["spec"]!["template"]!["spec"]!;
        var cudaWorker = cudaPod["containers"]!.AsArray().Single()!;
        Assert.Equal("ghcr.io/your-org/embedding-cuda-worker:latest", cudaWorker["image"]!.GetValue<string>());
        Assert.Equal("1", cudaWorker["resources"]!["limits"]!["nvidia.com/gpu"]!.ToString());
        Assert.Equal("NVIDIA-H100-80GB-HBM3", cudaPod["nodeSelector"]!["nvidia.com/gpu.product"]!.GetValue<string>());
        Assert.Contains(cudaPod["tolerations"]!.AsArray(), t => t!["key"]!.GetValue<string>() == "nvidia.com/gpu");
        var cudaEnv = cudaWorker["env"]!.AsArray().ToDictionary(e => e!["name"]!.GetValue<string>(), e => e!["value"]?.GetValue<string>());
        Assert.Equal(("Onnx", "Cuda", "256"), (cudaEnv["Worker__Backend"], cudaEnv["Worker__Onnx__Device"], cudaEnv["Worker__MaxBatchSize"]));
        Assert.Equal("/models/qwen3-embedding-4b-cuda", cudaEnv["Worker__Onnx__ModelPath"]);
        Assert.Contains(cudaWorker["volumeMounts"]!.AsArray(), m => m!["name"]!.GetValue<string>() == "models" && m["mountPath"]!.GetValue<string>() == "/models");
        Assert.Contains(cudaPod["volumes"]!.AsArray(), v => v!["persistentVolumeClaim"]?["claimName"]?.GetValue<string>() == "models");
        Assert.Null(Find(objects, "Deployment", "sglang-qwen3-embedding-4b-cuda", required: false));

        // Reranker tiers: workers of their own on their own queues (scaled above by the same policy), told what they serve;
        // the 4B one on the GPU like the CUDA embedding tier; the API lists each with its kind.
        foreach (var (reranker, gpu) in new[] { ("qwen3-reranker-tiny-test", false), ("qwen3-reranker-0-6b", false), ("qwen3-reranker-4b", true) })
        {
            var rerankerPod = Find(objects, "Deployment", $"worker-{reranker}")["spec"]!["template"]!["spec"]!;
            var rerankerWorker = rerankerPod["containers"]!.AsArray().Single()!;
            var rerankerEnv = rerankerWorker["env"]!.AsArray().ToDictionary(e => e!["name"]!.GetValue<string>(), e => e!["value"]?.GetValue<string>());
            Assert.Equal(("Reranker", "Onnx"), (rerankerEnv["Worker__Kind"], rerankerEnv["Worker__Backend"]));
            Assert.Equal(gpu ? "Cuda" : null, rerankerEnv.GetValueOrDefault("Worker__Onnx__Device"));
            Assert.Equal(gpu ? "1" : null, rerankerWorker["resources"]?["limits"]?["nvidia.com/gpu"]?.ToString());
        }
        var apiEnv = Find(objects, "Deployment", "api")["spec"]!["template"]!["spec"]!["containers"]![0]!["env"]!.AsArray()
            .ToDictionary(e => e!["name"]!.GetValue<string>(), e => e!["value"]?.GetValue<string>());
        var rerankerModels = apiEnv.Where(e => e.Key.EndsWith("__Kind", StringComparison.Ordinal) && e.Value == "Reranker")
            .Select(e => apiEnv[e.Key.Replace("__Kind", "__Name")]).ToList();
        Assert.Equal(["qwen3-reranker-tiny-test", "qwen3-reranker-0.6b", "qwen3-reranker-4b"], rerankerModels);

        // The CPU tier runs without a GPU; the API and the infrastructure are ordinary services.
        var cpuPod = Find(objects, "Deployment", "worker-qwen3-embedding-tiny-test")["spec"]!["template"]!["spec"]!;
        Assert.Null(cpuPod["nodeSelector"]);
        Assert.Equal("ghcr.io/your-org/embedding-worker:latest", cpuPod["containers"]![0]!["image"]!.GetValue<string>());
        Assert.Equal("LoadBalancer", Find(objects, "Service", "api")["spec"]!["type"]!.GetValue<string>());
        var scrape = Find(objects, "Deployment", "api")["spec"]!["template"]!["metadata"]!["annotations"]!;
        Assert.Equal("true", scrape["prometheus.io/scrape"]!.GetValue<string>());
        Assert.Equal("/metrics", scrape["prometheus.io/path"]!.GetValue<string>());
        foreach (var name in new[] { "cache", "messaging" }) Assert.NotNull(Find(objects, "Service", name));

        // Batch jobs: their files on a ReadWriteMany claim every API replica mounts, the jobs in PostgreSQL (its data on a
        // claim of its own); both survive the API's pods.
        var apiPod = Find(objects, "Deployment", "api")["spec"]!["template"]!["spec"]!;
        var apiContainer = apiPod["containers"]![0]!;
        Assert.Equal("/data/batches", apiContainer["env"]!.AsArray().Single(e => e!["name"]!.GetValue<string>() == "Api__Batches__StoragePath")!["value"]!.GetValue<string>());
        Assert.Contains(apiContainer["volumeMounts"]!.AsArray(), m => m!["name"]!.GetValue<string>() == "batch-data" && m["mountPath"]!.GetValue<string>() == "/data/batches");
        Assert.Contains(apiPod["volumes"]!.AsArray(), v => v!["persistentVolumeClaim"]?["claimName"]?.GetValue<string>() == "batch-data");
        Assert.Equal(["ReadWriteMany"], Find(objects, "PersistentVolumeClaim", "batch-data")["spec"]!["accessModes"]!.AsArray().Select(m => m!.GetValue<string>()));
        Assert.Contains(apiContainer["env"]!.AsArray(), e => e!["name"]!.GetValue<string>() == "ConnectionStrings__batches" && e["valueFrom"]?["secretKeyRef"] is not null);
        Assert.NotNull(Find(objects, "Service", "postgres"));
        Assert.NotNull(Find(objects, "PersistentVolumeClaim", "postgres-data"));

        // The API scales out: at least two replicas, an autoscaler on CPU (which needs the container's CPU request),
        // and a disruption budget that keeps all but one up through a drain.
        var apiScaling = new Embedding.AppHost.ApiScalingSettings();
        Assert.True(apiScaling.MinReplicas >= 2);
        Assert.Equal(apiScaling.MinReplicas, Find(objects, "Deployment", "api")["spec"]!["replicas"]!.GetValue<int>());
        Assert.Equal(apiScaling.CpuRequest, apiContainer["resources"]!["requests"]!["cpu"]!.ToString());
        var hpa = Find(objects, "HorizontalPodAutoscaler", "api");
        Assert.Equal("autoscaling/v2", hpa["apiVersion"]!.GetValue<string>());
        var hpaSpec = hpa["spec"]!;
        Assert.Equal(("apps/v1", "Deployment", "api"), (hpaSpec["scaleTargetRef"]!["apiVersion"]!.GetValue<string>(),
            hpaSpec["scaleTargetRef"]!["kind"]!.GetValue<string>(), hpaSpec["scaleTargetRef"]!["name"]!.GetValue<string>()));
        Assert.Equal((apiScaling.MinReplicas, apiScaling.MaxReplicas), (hpaSpec["minReplicas"]!.GetValue<int>(), hpaSpec["maxReplicas"]!.GetValue<int>()));
        var cpu = hpaSpec["metrics"]!.AsArray().Single()!["resource"]!;
        Assert.Equal("cpu", cpu["name"]!.GetValue<string>());
        Assert.Equal(("Utilization", apiScaling.TargetCpuUtilization), (cpu["target"]!["type"]!.GetValue<string>(), cpu["target"]!["averageUtilization"]!.GetValue<int>()));
        var pdb = Find(objects, "PodDisruptionBudget", "api")["spec"]!;
        Assert.Equal(1, pdb["maxUnavailable"]!.GetValue<int>());
        Assert.Equal("api", pdb["selector"]!["matchLabels"]!["app.kubernetes.io/name"]!.GetValue<string>());
        // Workers scale by their queue (KEDA), not on CPU.
        Assert.DoesNotContain(objects, o => o["kind"]!.GetValue<string>() == "HorizontalPodAutoscaler" && o["metadata"]!["name"]!.GetValue<string>() != "api");
    }

    /// <summary>Also: a tier's GPU type (the simulator's recommendation) selects its nodes, and a card without bf16 runs fp32.</summary>
    [Fact]
    public async Task A_gpu_tier_can_have_an_always_on_cpu_standby_of_its_own_model()
    {
        var objects = await PublishAndValidateAsync("--Embedding:Gpu:Enabled=true",
            "--Embedding:Tiers:3:Standby:HubRepository=example/qwen3-embedding-4b-onnx", "--Embedding:Tiers:3:Standby:Replicas=2",
            "--Embedding:Tiers:3:Gpu=T4", "--Embedding:Tiers:4:Gpu=H100");

        var t4 = Find(objects, "Deployment", "worker-qwen3-embedding-4b")["spec"]!["template"]!["spec"]!;
        Assert.Equal("Tesla-T4", t4["nodeSelector"]!["nvidia.com/gpu.product"]!.GetValue<string>());
        var t4Args = t4["containers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();
        Assert.Equal("float32", t4Args[t4Args.IndexOf("--dtype") + 1]);  // no bf16 on a T4, and fp16 gives NaN
        var h100 = Find(objects, "Deployment", "worker-qwen3-embedding-8b")["spec"]!["template"]!["spec"]!;
        Assert.Equal("NVIDIA-H100-80GB-HBM3", h100["nodeSelector"]!["nvidia.com/gpu.product"]!.GetValue<string>());
        var h100Args = h100["containers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();
        Assert.Equal("bfloat16", h100Args[h100Args.IndexOf("--dtype") + 1]);

        var deployment = Find(objects, "Deployment", "worker-qwen3-embedding-4b-standby")["spec"]!;
        Assert.Equal(2, deployment["replicas"]!.GetValue<int>());
        var pod = deployment["template"]!["spec"]!;
        Assert.Null(pod["nodeSelector"]);  // a CPU pod
        var env = pod["containers"]![0]!["env"]!.AsArray().ToDictionary(e => e!["name"]!.GetValue<string>(), e => e!["value"]?.GetValue<string>());
        Assert.Equal("qwen3-embedding-4b", env["Worker__Model"]);  // the tier's own queue and model
        Assert.Equal("Onnx", env["Worker__Backend"]);
        Assert.Equal("example/qwen3-embedding-4b-onnx", env["Worker__Onnx__HubRepository"]);
        Assert.Equal("-1", env["Worker__ConsumerPriority"]);
        // Downloaded once onto a shared claim, not again by every replica started from zero.
        Assert.Equal("/model-cache", env["Worker__Hub__CacheDirectory"]);
        Assert.False(env.ContainsKey("Worker__Hub__Token"));  // the AppHost's own defaults are not written into a manifest
        Assert.Contains(pod["containers"]![0]!["volumeMounts"]!.AsArray(), m => m!["name"]!.GetValue<string>() == "model-cache");
        Assert.NotNull(Find(objects, "PersistentVolumeClaim", "model-cache"));
        Assert.Null(Find(objects, "ScaledObject", "worker-qwen3-embedding-4b-standby", required: false));  // always on
        Assert.NotNull(Find(objects, "ScaledObject", "worker-qwen3-embedding-4b"));
    }

    /// <summary>
    /// The engine image is one SGLang's release workflow publishes (.github/workflows/release-docker.yml: vX.Y.Z, a
    /// multi-arch manifest; vX.Y.Z-cu129-amd64 and -arm64; latest), and the scale unit's image is built on the same one.
    /// </summary>
    [Fact]
    public void The_engine_image_is_a_published_sglang_tag_and_the_scale_unit_builds_on_it()
    {
        var gpu = new ConfigurationBuilder().AddJsonFile(Path.Combine(TestEnvironment.RepoRoot, "src", "Embedding.AppHost", "appsettings.json"))
            .Build().GetSection("Embedding").Get<Embedding.AppHost.EmbeddingSettings>()!.Gpu;
        Assert.Equal("lmsysorg/sglang", gpu.Image);
        Assert.Matches(@"^(v\d+\.\d+\.\d+(-cu\d+-(amd64|arm64))?|latest)$", gpu.Tag);

        var dockerfile = File.ReadAllLines(Path.Combine(TestEnvironment.RepoRoot, "deploy", "gpu-worker", "Dockerfile"));
        Assert.Contains($"ARG SGLANG_IMAGE={gpu.ImageReference}", dockerfile);
        var plan = JsonNode.Parse(File.ReadAllText(Path.Combine(TestEnvironment.RepoRoot, "infra", "tier-plan.json")))!;
        Assert.Equal(gpu.ImageReference, plan["engineImage"]!.GetValue<string>());
    }

    [Fact]
    public void A_tier_naming_an_unknown_gpu_type_fails_at_start_with_the_known_ones()
    {
        var settings = new Embedding.AppHost.EmbeddingSettings { Tiers = [new() { Name = "t", Backend = Embedding.AppHost.TierBackend.SGLang, Gpu = "V100" }] };
        var error = Assert.Throws<InvalidOperationException>(() => settings.Validated());
        Assert.Contains("'V100'", error.Message);
        Assert.Contains("L4", error.Message);
        Assert.Equal("NVIDIA-L4", new Embedding.AppHost.TierSettings { Name = "t", Gpu = "l4" }.GpuType!.KubernetesProduct);  // any case
    }

    [Fact]
    public async Task Scaling_values_come_from_configuration()
    {
        var objects = await PublishAndValidateAsync("--Embedding:Scaling:MaxReplicas=7", "--Embedding:Scaling:TargetQueueLength=33",
                                                    "--Embedding:Scaling:CooldownSeconds=300", "--Embedding:Scaling:ScaleInSeconds=90",
                                                    "--Embedding:ApiScaling:MinReplicas=3", "--Embedding:ApiScaling:MaxReplicas=12");
        var spec = Find(objects, "ScaledObject", "worker-qwen3-embedding-tiny-test")["spec"]!;
        Assert.Equal(7, spec["maxReplicaCount"]!.GetValue<int>());
        Assert.Equal(300, spec["cooldownPeriod"]!.GetValue<int>());
        Assert.Equal(90, spec["advanced"]!["horizontalPodAutoscalerConfig"]!["behavior"]!["scaleDown"]!["stabilizationWindowSeconds"]!.GetValue<int>());
        Assert.Equal("33", spec["triggers"]![0]!["metadata"]!["value"]!.GetValue<string>());
        var hpa = Find(objects, "HorizontalPodAutoscaler", "api")["spec"]!;
        Assert.Equal((3, 12), (hpa["minReplicas"]!.GetValue<int>(), hpa["maxReplicas"]!.GetValue<int>()));
        Assert.Equal(3, Find(objects, "Deployment", "api")["spec"]!["replicas"]!.GetValue<int>());
    }

    [Fact]
    public async Task Schema_validation_catches_a_broken_manifest()
    {
        var dir = Directory.CreateTempSubdirectory("k8s-bad-").FullName;
        try
        {
            var bad = Path.Combine(dir, "bad.yaml");
            await File.WriteAllTextAsync(bad, "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: w}\nspec:\n  scaleTargetRef: {name: w}\n  minReplicaCount: zero\n  triggers: []\n");
            var (code, output) = await ValidateAsync(null, bad);
            Assert.NotEqual(0, code);
            Assert.Contains("minReplicaCount", output);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Each tier in the AppHost's configuration: resource name, queue, and its policy (shared values plus its own).</summary>
    private static IEnumerable<(string Tier, string Queue, ScalingPolicy Policy)> AppHostTiers()
    {
        var embedding = new ConfigurationBuilder().AddJsonFile(Path.Combine(TestEnvironment.RepoRoot, "src", "Embedding.AppHost", "appsettings.json"))
            .Build().GetSection("Embedding").Get<Embedding.AppHost.EmbeddingSettings>()!;
        Assert.Equal(9, embedding.Tiers.Count);
        return embedding.Tiers.Select(t => (t.ResourceName, $"embed-{t.Name}", embedding.Scaling.For(t.Scaling)));
    }

    private static async Task<List<JsonNode>> PublishAndValidateAsync(params string[] settings)
    {
        var dir = Directory.CreateTempSubdirectory("k8s-").FullName;
        try
        {
            await AppHostPublisher.PublishAsync("kubernetes", dir, settings);
            var json = Path.Combine(dir, "all.json");
            var (code, output) = await ValidateAsync(json, Directory.GetFiles(dir, "*.yaml"));
            Assert.True(code == 0, "schema validation failed:\n" + output);
            return JsonNode.Parse(await File.ReadAllTextAsync(json))!.AsArray().Select(n => n!).ToList();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static Task<(int, string)> ValidateAsync(string? jsonOut, params string[] files)
    {
        var tool = Path.Combine(TestEnvironment.RepoRoot, "tools", "k8s-validate");
        Assert.True(Directory.Exists(Path.Combine(tool, "node_modules")), "run `npm ci --prefix tools/k8s-validate` (test.sh does)");
        var start = new ProcessStartInfo("node") { WorkingDirectory = tool, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("validate.mjs");
        if (jsonOut is not null) { start.ArgumentList.Add("--json"); start.ArgumentList.Add(jsonOut); }
        foreach (var f in files) start.ArgumentList.Add(f);
        return AppHostPublisher.RunAsync(start, TimeSpan.FromMinutes(1));
    }

    private static JsonNode Find(List<JsonNode> objects, string kind, string name, bool required = true)
    {
        var found = objects.SingleOrDefault(o => o["kind"]!.GetValue<string>() == kind && o["metadata"]!["name"]!.GetValue<string>() == name);
        if (required) Assert.True(found is not null, $"no {kind}/{name} in the published manifests");
        return found!;
    }
}
