using Embedding.AppHost.Kubernetes;
using Embedding.Worker;

namespace Embedding.AppHost;

/// <summary>
/// One kind of worker of a tier: its options (the "Worker" section), the volumes its model needs, its replicas; and for
/// a worker that runs its model on a GPU itself, the GPU it needs and the image built for it (published as that image).
/// </summary>
public sealed record WorkerPlan(WorkerOptions Options, IReadOnlyList<ModelVolume> Volumes, bool FromHub, PlanMode Mode, int Replicas = 1,
                                GpuAnnotation? Gpu = null, string? Image = null)
{
    /// <summary>
    /// The options as configuration keys ("Worker:OpenAI:Model"): those that differ from the worker's defaults, and always
    /// what the worker is (its tier, its backend) and, for an engine, which vectors it asks for.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, string>> Settings => Options.Backend == BackendKind.OpenAI
        ? ConfigurationKeys.Of(Options, WorkerOptions.SectionName, o => o.Model, o => o.Backend, o => o.OpenAI.Model, o => o.OpenAI.Dimensions)
        : ConfigurationKeys.Of(Options, WorkerOptions.SectionName, o => o.Model, o => o.Backend);
}
