using Embedding.Contracts;
using Embedding.AppHost.Kubernetes;
using Embedding.Scaling;

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
    public ScalingPolicy Scaling { get; set; } = new();

    /// <summary>Image registry and tag for `--publisher kubernetes`.</summary>
    public KubernetesSettings Kubernetes { get; set; } = new();

    /// <summary>Model tiers: name clients send, backend, vector size. See appsettings.json for the defaults.</summary>
    public List<TierSettings> Tiers { get; set; } = [];

    /// <summary>
    /// The tiers this run serves: CPU tiers always; GPU tiers where a GPU is switched on, or on CPU where they have an
    /// ONNX export of their model (the same name then answers with the same model, slower).
    /// </summary>
    public IEnumerable<TierSettings> ServedTiers() => Tiers.Where(t => !t.IsGpuTier || Gpu.Enabled || t.CpuModel is not null);

    /// <summary>Fails at start on what would otherwise fail later: a tier naming a GPU type nobody knows.</summary>
    public EmbeddingSettings Validated()
    {
        foreach (var tier in Tiers) _ = tier.GpuType;  // throws with the known names
        return this;
    }

    /// <summary>Whether <paramref name="tier"/> runs on its GPU engine in this run (else on CPU).</summary>
    public bool RunsOnGpu(TierSettings tier) => tier.IsGpuTier && Gpu.Enabled;
}

/// <summary>A model tier: its identity (what the API lists and clients call it, <see cref="ModelIdentity"/>) and where it runs.</summary>
public sealed class TierSettings : ModelIdentity
{
    /// <summary>"Onnx" (in-process on CPU) or "SGLang" (an engine container on a GPU).</summary>
    public string Backend { get; set; } = "Onnx";

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

    /// <summary>
    /// SGLang tiers: the GPU type their pods run on (<see cref="GpuCards"/>: T4, L4, A10, A100, H100; ACA-T4, ACA-A100 for
    /// Azure Container Apps' serverless profiles); unset: any NVIDIA GPU. `dotnet run --project tools/Embedding.Simulator
    /// -- --rank ...` prints the cheapest for a traffic shape.
    /// </summary>
    public string? Gpu { get; set; }

    public GpuCard? GpuType => Gpu is null ? null : GpuCards.Named(Gpu);
    public int MaxInputTokens { get; set; } = 32768;

    /// <summary>Batching, tuned per tier (bench/results/batching-*.md).</summary>
    public int? MaxBatchTokens { get; set; }
    public int? MaxWaitMilliseconds { get; set; }

    /// <summary>This tier's departures from Embedding:Scaling, if any.</summary>
    public ScalingOverrides? Scaling { get; set; }

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
