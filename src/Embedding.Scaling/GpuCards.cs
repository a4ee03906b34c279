namespace Embedding.Scaling;

/// <summary>
/// A GPU a tier can name (<c>Embedding:Tiers:N:Gpu</c>): how Kubernetes (GPU feature discovery's product label) and
/// Azure Container Apps (a serverless workload profile, where it has one) call it, and whether it has bf16 (without it
/// the engine runs fp32: Qwen3-Embedding gives NaN in fp16). The AppHost deploys by it; the simulator prices it.
/// </summary>
public sealed record GpuCard(string Name, string KubernetesProduct, string? AcaWorkloadProfile, bool Bf16);

public static class GpuCards
{
    public static readonly IReadOnlyList<GpuCard> All =
    [
        new("T4", "Tesla-T4", "Consumption-GPU-NC8as-T4", Bf16: false),
        new("L4", "NVIDIA-L4", null, Bf16: true),
        new("A10", "NVIDIA-A10", null, Bf16: true),
        new("A100", "NVIDIA-A100-SXM4-80GB", "Consumption-GPU-NC24-A100", Bf16: true),
        new("H100", "NVIDIA-H100-80GB-HBM3", null, Bf16: true),
        // Azure Container Apps' serverless GPUs: the same cards, bought per second.
        new("ACA-T4", "Tesla-T4", "Consumption-GPU-NC8as-T4", Bf16: false),
        new("ACA-A100", "NVIDIA-A100-SXM4-80GB", "Consumption-GPU-NC24-A100", Bf16: true),
    ];

    /// <summary>The card called <paramref name="name"/> (any case); unknown names fail, listing the known ones.</summary>
    public static GpuCard Named(string name) =>
        All.FirstOrDefault(g => string.Equals(g.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new InvalidOperationException($"Unknown GPU type '{name}'; known: {string.Join(", ", All.Select(g => g.Name))}.");
}
