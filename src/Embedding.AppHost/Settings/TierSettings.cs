using Embedding.Contracts;
using Embedding.Scaling;

namespace Embedding.AppHost;

/// <summary>
/// What runs a tier's model: ONNX Runtime in the worker itself (on CPU, or on a GPU with <see cref="TierSettings.Device"/>
/// Cuda), or an SGLang engine on a GPU (its workers then speak OpenAI to it).
/// </summary>
public enum TierBackend { Onnx, SGLang }

/// <summary>
/// A model tier: its identity (what the API lists and clients call it, <see cref="ModelIdentity"/>) and where it runs.
/// <see cref="TierPlan.For"/> is the one place that turns it into processes and their settings.
/// </summary>
public sealed class TierSettings : ModelIdentity
{
    public TierBackend Backend { get; set; } = TierBackend.Onnx;

    /// <summary>
    /// ONNX tiers: where the worker runs the model (Worker:Onnx:Device). Cuda makes it a GPU tier: its export is the GPU
    /// form tools/gpu-export writes, run by the CUDA worker image (deploy/cuda-worker) where Embedding:Gpu:Enabled is true.
    /// </summary>
    public Embedding.Worker.OnnxDevice Device { get; set; } = Embedding.Worker.OnnxDevice.Cpu;

    /// <summary>
    /// The model as an ONNX export (<see cref="OnnxModelSource"/>): ONNX tiers need one and run it on their
    /// <see cref="Device"/>; an SGLang tier with one runs it on CPU where the GPU is off, and its standby uses it.
    /// </summary>
    public string? OnnxModelPath { get; set; }
    public string? HubRepository { get; set; }
    public string? HubRevision { get; set; }
    public string? OnnxFile { get; set; }

    public OnnxModelSource? OnnxModel => OnnxModelSource.From(OnnxModelPath, HubRepository, HubRevision, OnnxFile);

    /// <summary>
    /// The export this tier runs on CPU: its ONNX export, except a CUDA tier's, whose GPU form is made for the CUDA
    /// provider (fp16 kernels, GroupQueryAttention): a CUDA tier is served only where a GPU is, and its standby names its own.
    /// </summary>
    public OnnxModelSource? CpuModel => IsCudaTier ? null : OnnxModel;

    /// <summary>SGLang tiers: the Hugging Face model the engine serves.</summary>
    public string? EngineModel { get; set; }

    /// <summary>
    /// GPU tiers: the GPU type their pods run on (<see cref="GpuCards"/>: T4, L4, A10, A100, H100; ACA-T4, ACA-A100 for
    /// Azure Container Apps' serverless profiles); unset: any NVIDIA GPU. `dotnet run --project tools/Embedding.Simulator
    /// -- --rank ...` prints the cheapest for a traffic shape.
    /// </summary>
    public string? Gpu { get; set; }

    public GpuCard? GpuType => Gpu is null ? null : GpuCards.Named(Gpu);

    /// <summary>
    /// SGLang tiers: the engine's context length (its <c>--context-length</c>); the longest input is one token less, as
    /// SGLang refuses <c>input_token_num &gt;= context_len</c>. Unset: Worker:OpenAI:ContextLength's default.
    /// </summary>
    public int? ContextLength { get; set; }

    /// <summary>
    /// CPU workers of a weight-only 8-bit export (the public model_quantized.onnx): the form they run it in
    /// (Worker:Onnx:Int8Form: DynamicInt8, or MatMulNBits); unset: the worker's default. See docs/models.md.
    /// </summary>
    public Embedding.Worker.Int8Form? Int8Form { get; set; }

    /// <summary>Batching, tuned per tier (bench/results/batching-*.md); unset: the worker's defaults.</summary>
    public int? MaxBatchTokens { get; set; }
    public int? MaxWaitMilliseconds { get; set; }

    /// <summary>This tier's departures from Embedding:Scaling, if any.</summary>
    public ScalingOverrides? Scaling { get; set; }

    /// <summary>An always-on CPU worker of the same model beside a GPU tier's workers; none if null.</summary>
    public StandbySettings? Standby { get; set; }

    /// <summary>An ONNX tier whose model runs on ONNX Runtime's CUDA provider, in the worker itself.</summary>
    public bool IsCudaTier => Backend == TierBackend.Onnx && Device == Embedding.Worker.OnnxDevice.Cuda;

    /// <summary>Configured for a GPU (an SGLang engine, or CUDA); whether it runs on one depends on the run (<see cref="EmbeddingSettings.RunsOnGpu"/>).</summary>
    public bool IsGpuTier => Backend == TierBackend.SGLang || IsCudaTier;

    /// <summary>The name in resource form (letters, digits, hyphens): "qwen3-embedding-0.6b" -> "qwen3-embedding-0-6b".</summary>
    public string ResourceName => System.Text.RegularExpressions.Regex.Replace(Name.ToLowerInvariant(), "[^a-z0-9]+", "-").Trim('-');
}
