namespace Embedding.AppHost;

/// <summary>The SGLang engine of GPU tiers: its image and flags (<see cref="SglangEngine"/> turns them into one command line).</summary>
public sealed class GpuSettings
{
    public bool Enabled { get; set; }

    /// <summary>
    /// A tag SGLang's release workflow publishes (.github/workflows/release-docker.yml: vX.Y.Z, a multi-arch manifest of
    /// vX.Y.Z-cu129-amd64 and -arm64; and latest). There is no vX.Y.Z-cu129.
    /// </summary>
    public string Image { get; set; } = "lmsysorg/sglang";
    public string Tag { get; set; } = "v0.5.5";
    public string ImageReference => $"{Image}:{Tag}";

    public string MemFractionStatic { get; set; } = "0.80";
    public int MaxRunningRequests { get; set; } = 128;
    public int ChunkedPrefillSize { get; set; } = 4096;

    /// <summary>bf16 where the GPU has it; Qwen3-Embedding returns NaN in fp16 (T4s have no bf16: float32 there).</summary>
    public string Dtype { get; set; } = "bfloat16";

    /// <summary>
    /// How long an engine may take to first answer /health before it is restarted: the weights' download on a cold volume
    /// (the 8B's 16 GB) plus loading them and capturing CUDA graphs.
    /// </summary>
    public int StartupBudgetSeconds { get; set; } = 1200;
}
