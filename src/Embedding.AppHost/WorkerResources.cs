using Aspire.Hosting.ApplicationModel;
using Embedding.AppHost.Kubernetes;

namespace Embedding.AppHost;

/// <summary>A tier's workers: their model (ONNX on CPU, from a directory or the hub) or their SGLang engine on a GPU.</summary>
public static partial class AppHostExtensions
{
    private const string ModelCacheMount = "/model-cache";

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
        // Deployed, replicas share the downloaded files on a claim of their own: a replica started from zero loads them
        // instead of fetching 1 GB again (the cache's lock and verified, atomically moved files make sharing safe).
        if (project.ApplicationBuilder.ExecutionContext.IsPublishMode)
            project.WithAnnotation(new ContainerMountAnnotation("model-cache", ModelCacheMount, ContainerMountType.Volume, isReadOnly: false))
                   .WithEnvironment("Worker__Hub__CacheDirectory", ModelCacheMount);
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
                      "--host", "0.0.0.0", "--port", "30000", "--dtype", tier.GpuType is { Bf16: false } ? "float32" : gpu.Dtype,
                      "--mem-fraction-static", memFraction, "--max-running-requests", maxRunning,
                      "--chunked-prefill-size", chunkedPrefill)
            .WithContainerRuntimeArgs("--gpus=all", "--ipc=host")
            .WithVolume("huggingface-cache", "/root/.cache/huggingface")
            .WithHttpEndpoint(targetPort: 30000, name: "http")
            .WithHealthProbe("/health")
            .WithAnnotation(new GpuAnnotation(tier.GpuType?.KubernetesProduct));
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
}
