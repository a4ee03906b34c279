using System.Net.Sockets;
using Aspire.Hosting.ApplicationModel;
using Embedding.AppHost.Kubernetes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Embedding.AppHost;

/// <summary>The "Embedding" section of the AppHost's configuration: the model tiers and where they run.</summary>
public sealed class EmbeddingSettings
{
    /// <summary>null = use containers when an engine answers; true/false to force.</summary>
    public bool? UseContainers { get; set; }

    public int LocalRedisPort { get; set; } = 36379;

    /// <summary>The model hub (or a mirror) for hub-sourced tiers; unset: HF_ENDPOINT, else huggingface.co.</summary>
    public string? HubEndpoint { get; set; }
    public int LocalRabbitMqPort { get; set; } = 35672;

    public GpuSettings Gpu { get; set; } = new();

    /// <summary>How every worker tier follows its queue, here and when published (Kubernetes, Azure).</summary>
    public Embedding.Contracts.ScalingPolicy Scaling { get; set; } = new();

    /// <summary>Image registry and tag for `--publisher kubernetes`.</summary>
    public KubernetesSettings Kubernetes { get; set; } = new();

    /// <summary>Model tiers: name clients send, backend, vector size. See appsettings.json for the defaults.</summary>
    public List<TierSettings> Tiers { get; set; } = [];

    /// <summary>
    /// The tiers this run serves: CPU tiers always; GPU tiers where a GPU is switched on, or on CPU where they have an
    /// ONNX export of their model (the same name then answers with the same model, slower).
    /// </summary>
    public IEnumerable<TierSettings> ServedTiers() => Tiers.Where(t => !t.IsGpuTier || Gpu.Enabled || t.CpuModel is not null);

    /// <summary>Whether <paramref name="tier"/> runs on its GPU engine in this run (else on CPU).</summary>
    public bool RunsOnGpu(TierSettings tier) => tier.IsGpuTier && Gpu.Enabled;
}

public sealed class TierSettings
{
    public string Name { get; set; } = "";
    public List<string> Aliases { get; set; } = [];

    /// <summary>"Onnx" (in-process on CPU) or "SGLang" (an engine container on a GPU).</summary>
    public string Backend { get; set; } = "Onnx";
    public int Dimensions { get; set; }
    public bool Matryoshka { get; set; } = true;

    /// <summary>
    /// The model as an ONNX export, run on CPU: a local model directory (relative to the AppHost project) or a hub
    /// repository to download, pinned to a revision, and which of its ONNX files to run. ONNX tiers need one; a GPU tier
    /// with one runs on CPU where the GPU is off, and its standby uses it.
    /// </summary>
    public string? OnnxModelPath { get; set; }
    public string? HubRepository { get; set; }
    public string? HubRevision { get; set; }
    public string? OnnxFile { get; set; }

    public OnnxModelSource? CpuModel => OnnxModelSource.From(OnnxModelPath, HubRepository, HubRevision, OnnxFile);

    /// <summary>SGLang tiers: the Hugging Face model the engine serves.</summary>
    public string? EngineModel { get; set; }
    public int MaxInputTokens { get; set; } = 32768;

    /// <summary>Batching, tuned per tier (bench/results/batching-*.md).</summary>
    public int? MaxBatchTokens { get; set; }
    public int? MaxWaitMilliseconds { get; set; }

    /// <summary>This tier's departures from Embedding:Scaling, if any.</summary>
    public Embedding.Contracts.ScalingOverrides? Scaling { get; set; }

    /// <summary>An always-on CPU worker of the same model beside a GPU tier's workers; none if null.</summary>
    public StandbySettings? Standby { get; set; }

    /// <summary>Configured for an SGLang engine; whether it runs on one depends on the run (<see cref="EmbeddingSettings.RunsOnGpu"/>).</summary>
    public bool IsGpuTier => string.Equals(Backend, "SGLang", StringComparison.OrdinalIgnoreCase);

    /// <summary>The name in resource form (letters, digits, hyphens): "qwen3-embedding-0.6b" -> "qwen3-embedding-0-6b".</summary>
    public string ResourceName => System.Text.RegularExpressions.Regex.Replace(Name.ToLowerInvariant(), "[^a-z0-9]+", "-").Trim('-');
}

/// <summary>
/// A CPU standby: the tier's own model as an ONNX export (the same vectors), on the tier's queue with a lower consumer
/// priority, so RabbitMQ hands it messages only while no GPU worker can take them: it serves nights and lulls, and the
/// first seconds of a GPU's cold start. Give the tier's scaling an activation threshold above what the CPU serves
/// (tools/Embedding.Simulator measures the trade).
/// </summary>
public sealed class StandbySettings
{
    /// <summary>The standby's own ONNX export; unset: the tier's (<see cref="TierSettings.CpuModel"/>).</summary>
    public string? OnnxModelPath { get; set; }
    public string? HubRepository { get; set; }
    public string? HubRevision { get; set; }
    public string? OnnxFile { get; set; }
    public int Replicas { get; set; } = 1;

    public OnnxModelSource? ModelOf(TierSettings tier) => OnnxModelSource.From(OnnxModelPath, HubRepository, HubRevision, OnnxFile) ?? tier.CpuModel;
}

/// <summary>Where a CPU worker's ONNX model comes from: a local directory, or a hub repository at a revision.</summary>
public sealed record OnnxModelSource(string? LocalPath, string? HubRepository, string? HubRevision, string? OnnxFile)
{
    public static OnnxModelSource? From(string? path, string? hub, string? revision, string? file) =>
        string.IsNullOrWhiteSpace(path) && string.IsNullOrWhiteSpace(hub) ? null : new(path, hub, revision, file);

    public bool FromHub => !string.IsNullOrWhiteSpace(HubRepository);
}

/// <summary>The SGLang engine container for GPU tiers.</summary>
public sealed class GpuSettings
{
    public bool Enabled { get; set; }
    public string Image { get; set; } = "lmsysorg/sglang";
    public string Tag { get; set; } = "v0.5.5-cu129";
    public string MemFractionStatic { get; set; } = "0.80";
    public string MaxRunningRequests { get; set; } = "128";
    public string ChunkedPrefillSize { get; set; } = "4096";

    /// <summary>bf16 where the GPU has it; Qwen3-Embedding returns NaN in fp16 (T4s have no bf16: use float32 there).</summary>
    public string Dtype { get; set; } = "bfloat16";
}

/// <summary>A server the AppHost runs as a local process, with the connection string its clients get.</summary>
public sealed class LocalServerResource(string name, string command, string workingDirectory, ReferenceExpression connectionString)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public ReferenceExpression ConnectionStringExpression { get; } = connectionString;
}

public static class AppHostExtensions
{
    /// <summary>Erases the concrete container type so both infrastructure choices read the same in AppHost.cs.</summary>
    public static IResourceBuilder<IResourceWithConnectionString> AsConnectionString<T>(this IResourceBuilder<T> builder)
        where T : IResourceWithConnectionString => (IResourceBuilder<IResourceWithConnectionString>)(object)builder;

    public static IResourceBuilder<IResourceWithConnectionString> AddLocalRedis(this IDistributedApplicationBuilder builder, string name, int port)
    {
        var data = DataDirectory(builder, name);
        var redis = new LocalServerResource(name, "redis-server", data,
            ReferenceExpression.Create($"127.0.0.1:{port.ToString()}"));
        return builder.AddResource(redis)
            .WithArgs("--bind", "127.0.0.1", "--port", port.ToString(), "--save", "", "--appendonly", "no")
            .WithTcpHealthCheck(builder, port)
            .AsConnectionString();
    }

    /// <summary>RabbitMQ as Aspire's container resource, with the management API the autoscaler reads.</summary>
    public static (IResourceBuilder<IResourceWithConnectionString>, ReferenceExpression) AddRabbitMQBroker(this IDistributedApplicationBuilder builder, string name)
    {
        var rabbit = builder.AddRabbitMQ(name).WithManagementPlugin();
        var server = rabbit.Resource;
        return (rabbit.AsConnectionString(), ReferenceExpression.Create(
            $"http://{server.UserNameReference}:{server.PasswordParameter}@{server.ManagementEndpoint.Property(EndpointProperty.HostAndPort)}/"));
    }

    /// <summary>RabbitMQ from the Debian package as a local process: AMQP on port, management on port + 1.</summary>
    public static (IResourceBuilder<IResourceWithConnectionString>, ReferenceExpression) AddLocalRabbitMQ(this IDistributedApplicationBuilder builder, string name, int port)
    {
        var data = DataDirectory(builder, name);
        File.WriteAllText(Path.Combine(data, "enabled_plugins"), "[rabbitmq_management].");
        File.WriteAllText(Path.Combine(data, "rabbitmq.conf"),
            $"listeners.tcp.1 = 127.0.0.1:{port}\nmanagement.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {port + 1}\nloopback_users = none\n" +
            // Queue depths refresh every second (default 5 s): the autoscaler reacts to them.
            "collect_statistics_interval = 1000\n");
        var rabbit = new LocalServerResource(name, "/usr/lib/rabbitmq/bin/rabbitmq-server", data,
            ReferenceExpression.Create($"amqp://guest:guest@127.0.0.1:{port.ToString()}/"));
        var resource = builder.AddResource(rabbit)
            .WithEnvironment("RABBITMQ_NODENAME", "embedding-" + port + "@localhost")
            .WithEnvironment("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .WithEnvironment("RABBITMQ_DIST_PORT", (port + 2).ToString())
            .WithEnvironment("ERL_EPMD_ADDRESS", "127.0.0.1")
            .WithEnvironment("RABBITMQ_MNESIA_BASE", Path.Combine(data, "mnesia"))
            .WithEnvironment("RABBITMQ_LOG_BASE", Path.Combine(data, "log"))
            .WithEnvironment("RABBITMQ_ENABLED_PLUGINS_FILE", Path.Combine(data, "enabled_plugins"))
            .WithEnvironment("RABBITMQ_CONFIG_FILE", Path.Combine(data, "rabbitmq"))
            .WithEnvironment("HOME", data)
            .WithHttpEndpoint(port: port + 1, targetPort: port + 1, name: "management", isProxied: false)
            .WithTcpHealthCheck(builder, port)
            .AsConnectionString();
        return (resource, ReferenceExpression.Create($"http://guest:guest@127.0.0.1:{(port + 1).ToString()}/"));
    }

    /// <summary>The tier a worker serves, and its batching. Its /health answers only once its model or engine is ready.</summary>
    public static IResourceBuilder<ProjectResource> WithTier(this IResourceBuilder<ProjectResource> worker, TierSettings tier)
    {
        worker.WithHttpEndpoint(name: "http").WithHealthProbe("/health");
        worker.WithEnvironment("Worker__Model", tier.Name);
        if (tier.MaxBatchTokens is { } tokens) worker.WithEnvironment("Worker__MaxBatchTokens", tokens.ToString());
        if (tier.MaxWaitMilliseconds is { } wait) worker.WithEnvironment("Worker__MaxWaitMilliseconds", wait.ToString());
        return worker;
    }

    public static IResourceBuilder<ProjectResource> WithOnnxModel(this IResourceBuilder<ProjectResource> worker, TierSettings tier) =>
        worker.WithOnnxModel(tier.CpuModel ?? throw new InvalidOperationException($"Tier '{tier.Name}' runs on CPU and needs OnnxModelPath or HubRepository."));

    /// <summary>The tier's model on CPU, beside its GPU workers (see <see cref="StandbySettings"/>).</summary>
    public static IResourceBuilder<ProjectResource> AsStandby(this IResourceBuilder<ProjectResource> worker, TierSettings tier, StandbySettings standby) =>
        worker.WithOnnxModel(standby.ModelOf(tier) ?? throw new InvalidOperationException($"Tier '{tier.Name}': its standby needs an ONNX export (OnnxModelPath or HubRepository)."))
              .WithEnvironment("Worker__ConsumerPriority", "-1")
              .WithReplicas(standby.Replicas);

    private static IResourceBuilder<ProjectResource> WithOnnxModel(this IResourceBuilder<ProjectResource> worker, OnnxModelSource model)
    {
        worker.WithEnvironment("Worker__Backend", "Onnx");
        if (!string.IsNullOrWhiteSpace(model.OnnxFile)) worker.WithEnvironment("Worker__Onnx__OnnxFile", model.OnnxFile);
        if (model.FromHub) return worker.WithHubModel(model);
        var builder = worker.ApplicationBuilder;
        if (builder.ExecutionContext.IsPublishMode)
        {
            // Deployed, the model is a mounted volume, not a path on this machine.
            var mounted = builder.AddParameter($"{worker.Resource.Name}-model-path", "/models/qwen3-embedding", publishValueAsDefault: true);
            return worker.WithEnvironment("Worker__Onnx__ModelPath", mounted)
                .WithAnnotation(new ContainerMountAnnotation("models", "/models", ContainerMountType.Volume, isReadOnly: true));
        }
        return worker.WithEnvironment("Worker__Onnx__ModelPath", Path.GetFullPath(model.LocalPath ?? "", builder.AppHostDirectory));
    }

    /// <summary>A model from the hub, pinned to its revision; the hub's own variables (mirror, token) pass through.</summary>
    private static IResourceBuilder<ProjectResource> WithHubModel(this IResourceBuilder<ProjectResource> project, OnnxModelSource model)
    {
        project.WithEnvironment("Worker__Onnx__HubRepository", model.HubRepository);
        if (!string.IsNullOrWhiteSpace(model.HubRevision)) project.WithEnvironment("Worker__Onnx__HubRevision", model.HubRevision);
        foreach (var variable in new[] { "HF_ENDPOINT", "HF_TOKEN" })
            if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value) project.WithEnvironment(variable, value);
        // Embedding:HubEndpoint overrides HF_ENDPOINT for this AppHost's workers alone (a mirror; tests: no hub at all).
        if (project.ApplicationBuilder.Configuration["Embedding:HubEndpoint"] is { Length: > 0 } endpoint)
            project.WithEnvironment("Worker__Hub__Endpoint", endpoint);
        return project;
    }

    /// <summary>
    /// The model's files fetched once, visibly: a resource of its own that downloads them into the shared cache (progress
    /// in its console, failure with the reason in its state) and exits. Workers started meanwhile wait for it on the
    /// cache's lock and then load what it fetched; where it failed, they answer the tier's requests with
    /// model_unavailable and the reason instead of leaving callers to time out.
    /// </summary>
    public static void AddModelDownload(this IDistributedApplicationBuilder builder, TierSettings tier, OnnxModelSource model)
    {
        if (builder.ExecutionContext.IsPublishMode || !model.FromHub) return;
        var download = builder.AddProject<Projects.Embedding_Worker>($"model-{tier.ResourceName}")
            .WithArgs("download-model")
            .WithEnvironment("Worker__Model", tier.Name)
            .WithEnvironment("Worker__Backend", "Onnx");
        if (!string.IsNullOrWhiteSpace(model.OnnxFile)) download.WithEnvironment("Worker__Onnx__OnnxFile", model.OnnxFile);
        download.WithHubModel(model);
    }

    /// <summary>
    /// SGLang serving one Qwen3-Embedding model on a GPU: OpenAI-compatible /v1/embeddings and /health on port 30000,
    /// the Hugging Face cache on a volume (weights survive restarts), memory and batching flags as parameters.
    /// </summary>
    public static IResourceBuilder<ContainerResource> AddSglangEngine(this IDistributedApplicationBuilder builder, string name, TierSettings tier, GpuSettings gpu)
    {
        var memFraction = builder.AddParameter($"{name}-mem-fraction", gpu.MemFractionStatic, publishValueAsDefault: true);
        var maxRunning = builder.AddParameter($"{name}-max-running-requests", gpu.MaxRunningRequests, publishValueAsDefault: true);
        var chunkedPrefill = builder.AddParameter($"{name}-chunked-prefill-size", gpu.ChunkedPrefillSize, publishValueAsDefault: true);
        return builder.AddContainer(name, gpu.Image, gpu.Tag)
            .WithEntrypoint("python3")
            .WithArgs("-m", "sglang.launch_server", "--model-path", tier.EngineModel!, "--is-embedding",
                      "--host", "0.0.0.0", "--port", "30000", "--dtype", gpu.Dtype,
                      "--mem-fraction-static", memFraction, "--max-running-requests", maxRunning,
                      "--chunked-prefill-size", chunkedPrefill)
            .WithContainerRuntimeArgs("--gpus=all", "--ipc=host")
            .WithVolume("huggingface-cache", "/root/.cache/huggingface")
            .WithHttpEndpoint(targetPort: 30000, name: "http")
            .WithHealthProbe("/health")
            .WithAnnotation(new GpuAnnotation());
    }

    /// <summary>A GPU tier's worker talks to its engine; it takes messages only once the engine is healthy.
    /// When published, the engine runs in the worker's pod, so scaling the worker to zero frees the GPU.</summary>
    public static IResourceBuilder<ProjectResource> WithEngine(this IResourceBuilder<ProjectResource> worker, IResourceBuilder<ContainerResource> engine, TierSettings tier) =>
        worker.WithAnnotation(new SidecarAnnotation(engine.Resource))
            .WithEnvironment("Worker__Backend", "OpenAI")
            .WithEnvironment("Worker__OpenAI__BaseUrl", engine.GetEndpoint("http"))
            .WithEnvironment("Worker__OpenAI__Model", tier.EngineModel!)
            .WithEnvironment("Worker__OpenAI__Dimensions", tier.Dimensions.ToString())
            .WithEnvironment("Worker__OpenAI__MaxInputTokens", tier.MaxInputTokens.ToString())
            .WithEnvironment("Worker__MaxConcurrentBatches", "2");  // one batch on the GPU, the next one ready

    /// <summary>Lists a tier among the API's models.</summary>
    public static IResourceBuilder<ProjectResource> WithModel(this IResourceBuilder<ProjectResource> api, int index, TierSettings tier)
    {
        api.WithEnvironment($"Api__Models__{index}__Name", tier.Name)
           .WithEnvironment($"Api__Models__{index}__Dimensions", tier.Dimensions.ToString())
           .WithEnvironment($"Api__Models__{index}__Matryoshka", tier.Matryoshka.ToString());
        for (var a = 0; a < tier.Aliases.Count; a++) api.WithEnvironment($"Api__Models__{index}__Aliases__{a}", tier.Aliases[a]);
        return api;
    }

    /// <summary>Deployed services also offer Prometheus scraping at /metrics (clusters often scrape rather than receive OTLP).</summary>
    public static IResourceBuilder<ProjectResource> WithPrometheusWhenPublished(this IResourceBuilder<ProjectResource> project) =>
        project.ApplicationBuilder.ExecutionContext.IsPublishMode ? project.WithEnvironment("Telemetry__Prometheus", "true") : project;

    /// <summary>
    /// Where the API keeps batch jobs and their files: under .data/ beside the local servers' data when run here; on a
    /// persistent volume (a PersistentVolumeClaim in the Kubernetes manifests) when published, so jobs survive the pod.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithBatchStorage(this IResourceBuilder<ProjectResource> api)
    {
        if (!api.ApplicationBuilder.ExecutionContext.IsPublishMode)
            return api.WithEnvironment("Api__Batches__StoragePath", DataDirectory(api.ApplicationBuilder, "batches"));
        const string mountPath = "/data/batches";
        return api.WithAnnotation(new ContainerMountAnnotation("batch-data", mountPath, ContainerMountType.Volume, isReadOnly: false))
                  .WithEnvironment("Api__Batches__StoragePath", mountPath);
    }

    /// <summary>One readiness path for both worlds: the dashboard's health check here, the pod's probes when published.</summary>
    public static IResourceBuilder<T> WithHealthProbe<T>(this IResourceBuilder<T> resource, string path, string endpoint = "http")
        where T : IResourceWithEndpoints =>
        resource.WithHttpHealthCheck(path, endpointName: endpoint).WithAnnotation(new HealthProbeAnnotation(path, endpoint));

    private static IResourceBuilder<T> WithTcpHealthCheck<T>(this IResourceBuilder<T> resource, IDistributedApplicationBuilder builder, int port)
        where T : IResource
    {
        var key = $"{resource.Resource.Name}-tcp";
        builder.Services.AddHealthChecks().AddAsyncCheck(key, async ct =>
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port, ct);
                return HealthCheckResult.Healthy();
            }
            catch (SocketException ex)
            {
                return HealthCheckResult.Unhealthy($"127.0.0.1:{port} does not accept connections yet", ex);
            }
        });
        return resource.WithHealthCheck(key);
    }

    private static string DataDirectory(IDistributedApplicationBuilder builder, string name)
    {
        var directory = Path.Combine(builder.AppHostDirectory, "..", "..", ".data", name);
        Directory.CreateDirectory(directory);
        return Path.GetFullPath(directory);
    }
}

/// <summary>Whether a container engine (Docker or Podman) is reachable, not merely its client installed.</summary>
public static class ContainerEngine
{
    public static bool IsAvailable()
    {
        if (Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 }) return true;
        string[] sockets = ["/var/run/docker.sock", "/run/podman/podman.sock",
            $"/run/user/{Environment.GetEnvironmentVariable("UID") ?? "0"}/podman/podman.sock"];
        return sockets.Any(File.Exists) || OperatingSystem.IsWindows() || OperatingSystem.IsMacOS();
    }
}
