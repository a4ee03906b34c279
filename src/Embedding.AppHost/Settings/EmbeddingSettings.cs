using Embedding.AppHost.Kubernetes;
using Embedding.Scaling;

namespace Embedding.AppHost;

/// <summary>The "Embedding" section of the AppHost's configuration: the model tiers and where they run.</summary>
public sealed class EmbeddingSettings
{
    /// <summary>null = use containers when an engine answers; true/false to force.</summary>
    public bool? UseContainers { get; set; }

    public int LocalRedisPort { get; set; } = 36379;
    public int LocalRabbitMqPort { get; set; } = 35672;
    public int LocalPostgresPort { get; set; } = 35432;

    /// <summary>The model hub (or a mirror) for hub-sourced tiers; unset: HF_ENDPOINT, else huggingface.co.</summary>
    public string? HubEndpoint { get; set; }

    public GpuSettings Gpu { get; set; } = new();

    /// <summary>How every worker tier follows its queue, here and when published (Kubernetes, Azure).</summary>
    public ScalingPolicy Scaling { get; set; } = new();

    /// <summary>API processes `dotnet run` starts behind one endpoint (Aspire replicas); they share Redis and RabbitMQ.</summary>
    public int ApiReplicas { get; set; } = 1;

    /// <summary>How the published API scales (Kubernetes).</summary>
    public ApiScalingSettings ApiScaling { get; set; } = new();

    /// <summary>Image registry and tag for `--publisher kubernetes`.</summary>
    public KubernetesSettings Kubernetes { get; set; } = new();

    /// <summary>Model tiers: name clients send, backend, vector size. See appsettings.json for the defaults.</summary>
    public List<TierSettings> Tiers { get; set; } = [];

    /// <summary>
    /// The tiers this run serves: CPU tiers always; GPU tiers where a GPU is switched on, or on CPU where they have a CPU
    /// export of their model (<see cref="TierSettings.CpuModel"/>: the same name then answers with the same model, slower).
    /// </summary>
    public IEnumerable<TierSettings> ServedTiers() => Tiers.Where(t => !t.IsGpuTier || Gpu.Enabled || t.CpuModel is not null);

    /// <summary>
    /// Fails at start on what would otherwise fail later: a tier naming a GPU type nobody knows, a device its backend has
    /// not, or a reranker on an engine that cannot score pairs.
    /// </summary>
    public EmbeddingSettings Validated()
    {
        if (ApiReplicas < 1) throw new InvalidOperationException($"Embedding:ApiReplicas is {ApiReplicas}: at least one API process runs.");
        ApiScaling.Validated();
        foreach (var tier in Tiers)
        {
            _ = tier.GpuType;  // throws with the known names
            if (tier.Backend != TierBackend.Onnx && tier.Device != Embedding.Worker.OnnxDevice.Cpu)
                throw new InvalidOperationException($"Tier '{tier.Name}': Device is where an ONNX tier's model runs; an {tier.Backend} tier's engine has its own GPU.");
            if (tier.Kind == Embedding.Contracts.ModelKind.Reranker && tier.Backend != TierBackend.Onnx)
                throw new InvalidOperationException($"Tier '{tier.Name}': a reranker tier runs its ONNX export in the worker (Backend Onnx; Device Cuda for a GPU), not on an {tier.Backend} engine.");
        }
        return this;
    }

    /// <summary>Whether <paramref name="tier"/> runs on its GPU (its engine, or CUDA) in this run (else on CPU).</summary>
    public bool RunsOnGpu(TierSettings tier) => tier.IsGpuTier && Gpu.Enabled;

    /// <summary>The plan of every served tier, in the order the API lists them.</summary>
    public IEnumerable<TierPlan> Plans(PlanMode mode, string appHostDirectory) =>
        ServedTiers().Select(t => TierPlan.For(t, this, RunsOnGpu(t), mode, appHostDirectory));
}
