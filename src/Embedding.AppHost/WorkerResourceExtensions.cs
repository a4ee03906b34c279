using Aspire.Hosting.ApplicationModel;
using Embedding.AppHost.Kubernetes;
using Embedding.Worker;

namespace Embedding.AppHost;

/// <summary>A tier's processes as Aspire resources, each written from its <see cref="TierPlan"/>: workers, the model download, the SGLang engine.</summary>
public static class WorkerResourceExtensions
{
    /// <summary>A worker with the plan's options; its /health answers only once its model or engine is ready.</summary>
    public static IResourceBuilder<ProjectResource> AddWorker(this IDistributedApplicationBuilder builder, string name, WorkerPlan plan)
    {
        var worker = builder.AddProject<Projects.Embedding_Worker>(name).WithWorkerPlan(plan)
            .WithHttpEndpoint(name: "http").WithHealthProbe("/health");
        return plan.Replicas == 1 ? worker : worker.WithReplicas(plan.Replicas);
    }

    /// <summary>
    /// The model's files fetched once, visibly: a resource of its own that downloads them into the shared cache (progress
    /// in its console, failure with the reason in its state) and exits. Workers started meanwhile wait for it on the
    /// cache's lock and then load what it fetched; where it failed, they answer the tier's requests with
    /// model_unavailable and the reason instead of leaving callers to time out.
    /// </summary>
    public static void AddModelDownload(this IDistributedApplicationBuilder builder, TierPlan plan)
    {
        if (plan.Download is { } download)
            builder.AddProject<Projects.Embedding_Worker>($"model-{plan.Tier.ResourceName}").WithArgs("download-model").WithWorkerPlan(download);
    }

    /// <summary>
    /// SGLang serving one model on a GPU (<see cref="SglangEngine"/>): OpenAI-compatible /v1/embeddings and /health,
    /// the Hugging Face cache on a volume (weights survive restarts).
    /// </summary>
    public static IResourceBuilder<ContainerResource> AddSglangEngine(this IDistributedApplicationBuilder builder, string name, SglangEngine engine) =>
        builder.AddContainer(name, engine.Image, engine.Tag)
            .WithEntrypoint("python3")
            .WithArgs(["-m", "sglang.launch_server", .. engine.Args])
            .WithContainerRuntimeArgs("--gpus=all", "--ipc=host")
            .WithVolume("huggingface-cache", SglangEngine.CacheMount)
            .WithHttpEndpoint(targetPort: SglangEngine.Port, name: "http")
            .WithHealthProbe("/health", engine.ProbeTiming)
            .WithAnnotation(new GpuAnnotation(engine.GpuProduct));

    /// <summary>A GPU tier's worker talks to its engine; it takes messages only once the engine is healthy.
    /// When published, the engine runs in the worker's pod, so scaling the worker to zero frees the GPU.</summary>
    public static IResourceBuilder<ProjectResource> WithEngine(this IResourceBuilder<ProjectResource> worker, IResourceBuilder<ContainerResource> engine, SglangEngine plan) =>
        worker.WithAnnotation(new SidecarAnnotation(engine.Resource))
            // The worker is ready when its engine is: its probes wait as long as the engine's.
            .WithAnnotation(new HealthProbeAnnotation("/health", "http", plan.ProbeTiming), ResourceAnnotationMutationBehavior.Replace)
            // Here the engine is a container of its own, reached through its endpoint; published, Host() maps it to localhost.
            .WithEnvironment(ConfigurationKeys.EnvironmentName(ConfigurationKeys.Key<WorkerOptions>(WorkerOptions.SectionName, o => o.OpenAI.BaseUrl)), engine.GetEndpoint("http"))
            .WaitFor(engine);

    /// <summary>
    /// The plan's options as the worker's environment, its volumes, the hub's own variables (mirror, token) for hub models,
    /// and for a worker on a GPU, the GPU and its image (for publishing; run here, the project itself, built with
    /// -p:OnnxRuntimeGpu=true).
    /// </summary>
    private static IResourceBuilder<ProjectResource> WithWorkerPlan(this IResourceBuilder<ProjectResource> project, WorkerPlan plan)
    {
        if (plan.Gpu is { } gpu) project.WithAnnotation(gpu);
        if (plan.Image is { } image) project.WithAnnotation(new PublishedImageAnnotation(image));
        foreach (var (key, value) in plan.Settings) project.WithEnvironment(ConfigurationKeys.EnvironmentName(key), value);
        foreach (var volume in plan.Volumes)
            project.WithAnnotation(new ContainerMountAnnotation(volume.Name, volume.Target, ContainerMountType.Volume, volume.ReadOnly));
        if (plan.FromHub)
            foreach (var variable in new[] { "HF_ENDPOINT", "HF_TOKEN" })
                if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value) project.WithEnvironment(variable, value);
        return project;
    }
}
