using System.Globalization;
using Embedding.AppHost.Kubernetes;

namespace Embedding.AppHost;

/// <summary>
/// The one description of an SGLang engine serving a tier: its image and its command line, which the AppHost's container,
/// the Kubernetes sidecar, Azure Container Apps (infra/tier-plan.json) and the scale unit's entrypoint (ENGINE_ARGS) all
/// run as given; and the probes its /health needs.
/// </summary>
public sealed record SglangEngine(string Image, string Tag, IReadOnlyList<string> Args, string? GpuProduct, int StartupBudgetSeconds)
{
    public const int Port = 30000;

    /// <summary>
    /// SGLang's /health runs a one-token request and sleeps at least a second before it answers (up to
    /// SGLANG_HEALTH_CHECK_TIMEOUT, 20 s, while busy: python/sglang/srt/entrypoints/http_server.py), so Kubernetes'
    /// 1 s default would fail every probe; SGLang's own docker/k8s-sglang-service.yaml probes every 10 s.
    /// </summary>
    public const int ProbeTimeoutSeconds = 10;
    public const int ProbePeriodSeconds = 10;

    /// <summary>How Kubernetes probes the engine, and the worker beside it (ready once the engine is).</summary>
    public ProbeTiming ProbeTiming => new(ProbePeriodSeconds, ProbeTimeoutSeconds, StartupBudgetSeconds);

    /// <summary>Where SGLang keeps the weights it downloads: a volume, so they survive restarts and scale-to-zero.</summary>
    public const string CacheMount = "/root/.cache/huggingface";

    public static SglangEngine For(TierSettings tier, GpuSettings gpu, bool bf16) =>
        new(gpu.Image, gpu.Tag, Arguments(tier, gpu, bf16), tier.GpuType?.KubernetesProduct, gpu.StartupBudgetSeconds);

    /// <summary>`python3 -m sglang.launch_server` with these, for <paramref name="tier"/>'s model on a card with or without bf16.</summary>
    public static IReadOnlyList<string> Arguments(TierSettings tier, GpuSettings gpu, bool bf16) =>
    [
        "--model-path", tier.EngineModel ?? throw new InvalidOperationException($"Tier '{tier.Name}' is an SGLang tier and needs EngineModel."),
        "--is-embedding",
        "--host", "0.0.0.0", "--port", Port.ToString(CultureInfo.InvariantCulture),
        "--dtype", Dtype(gpu, bf16),
        "--context-length", ContextLength(tier).ToString(CultureInfo.InvariantCulture),
        "--mem-fraction-static", gpu.MemFractionStatic,
        "--max-running-requests", gpu.MaxRunningRequests.ToString(CultureInfo.InvariantCulture),
        "--chunked-prefill-size", gpu.ChunkedPrefillSize.ToString(CultureInfo.InvariantCulture),
    ];

    /// <summary>The dtype the engine runs in on a card with or without bf16: Qwen3-Embedding returns NaN in fp16, so without bf16, float32.</summary>
    public static string Dtype(GpuSettings gpu, bool bf16) => bf16 ? gpu.Dtype : "float32";

    /// <summary>The engine's context length: the tier's, else the worker's default, so both sides count the same limit.</summary>
    public static int ContextLength(TierSettings tier) => tier.ContextLength ?? new Embedding.Worker.OpenAIBackendOptions().ContextLength;

    /// <summary>Where the tier's worker reaches the engine inside their shared pod or container.</summary>
    public static Uri LocalUrl => new($"http://127.0.0.1:{Port}");
}
