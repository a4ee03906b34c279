using Embedding.Scaling;

namespace Embedding.Simulator;

/// <summary>
/// A GPU a tier can run on, and how it is bought. Speed comes from the forward-pass model measured on one H100 for
/// Qwen3-Embedding-4B (<see cref="GpuLatencyModel"/>): throughput scales with the card's dense fp16/bf16 tensor TFLOPS,
/// the floor keeps the H100's fixed overhead (launches, sync) and adds the time to read the weights once at the card's
/// memory bandwidth. Spec figures: NVIDIA's data sheets (T4, L4, A10, A100 80GB SXM, H100 SXM; dense, without sparsity).
/// Prices are on-demand list prices of one-GPU instances as published by the clouds in 2025 (named per type below);
/// they are inputs, not measurements: check your own before you deploy.
/// </summary>
/// <param name="Card">Which card, as tiers name it and the AppHost deploys it (<see cref="GpuCards"/>).</param>
public sealed record GpuType(GpuCard Card, double PricePerHour, double DenseTflops, double BandwidthGBs, double MemoryGiB, string PriceSource)
{
    public string Name => Card.Name;
    public bool Bf16 => Card.Bf16;

    /// <summary>The card the latency model was measured on: H100 SXM, 989 dense bf16 TFLOPS, 3,350 GB/s.</summary>
    public const double ReferenceTflops = 989, ReferenceBandwidthGBs = 3_350;

    /// <summary>Weights of Qwen3-Embedding-4B in 16-bit (7.5-7.7 GiB measured; bench/results/gpu-batches-2026-11-25.md).</summary>
    public const double Weights4BGiB = 7.7;

    /// <summary>Without bf16 (T4) the model runs in fp32: fp16 overflows in Qwen3 (trained in bf16) give NaN vectors.</summary>
    public int BytesPerWeight => Bf16 ? 2 : 4;

    /// <summary>Weights in this card's precision must fit in 80 % of its memory (the engine's static share; the rest is activations).</summary>
    public bool Fits(double weightsGiB16Bit) => weightsGiB16Bit * BytesPerWeight / 2 <= 0.8 * MemoryGiB;

    /// <summary>The H100-measured model scaled to this card, for a model of the given 16-bit weight size.</summary>
    public GpuLatencyModel LatencyFrom(GpuLatencyModel reference, double weightsGiB16Bit = Weights4BGiB)
    {
        var weightBytes = weightsGiB16Bit * (1L << 30);
        var referenceRead = weightBytes / (ReferenceBandwidthGBs * 1e9) * 1000;  // ms to read 16-bit weights on the H100
        var overhead = Math.Max(0, reference.FloorMilliseconds - referenceRead);
        var read = weightBytes * BytesPerWeight / 2 / (BandwidthGBs * 1e9) * 1000;
        var peak = reference.PeakTokensPerSecond * DenseTflops / ReferenceTflops * (Bf16 ? 1 : 0.5);  // fp32: half the fp16 rate
        return reference with { FloorMilliseconds = overhead + read, PeakTokensPerSecond = peak };
    }

    public static readonly IReadOnlyList<GpuType> All =
    [
        new(GpuCards.Named("T4"), 0.526, 65, 320, 16, "Azure NC4as T4 v3, pay as you go"),
        new(GpuCards.Named("L4"), 0.71, 121, 300, 24, "Google Cloud g2-standard-4, on demand"),
        new(GpuCards.Named("A10"), 1.10, 125, 600, 24,
            "one-A10 instances (e.g. Azure NV36ads A10 v5 is $3.20/h for a whole A10 with 36 vCPUs; GPU clouds about $0.75-1.10/h)"),
        new(GpuCards.Named("A100"), 3.67, 312, 2_039, 80, "Azure NC24ads A100 v4, pay as you go"),
        new(GpuCards.Named("H100"), 3.00, 989, 3_350, 80, "GPU clouds on demand (Azure NC40ads H100 v5 is about $6.98/h)"),
        new(GpuCards.Named("ACA-T4"), 0.526, 65, 320, 16, "assumed: the T4 VM's hourly price, billed per second while a replica runs"),
        new(GpuCards.Named("ACA-A100"), 3.67, 312, 2_039, 80, "assumed: the A100 VM's hourly price, billed per second while a replica runs"),
    ];

    public static GpuType Named(string name) =>
        All.FirstOrDefault(g => string.Equals(g.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown GPU type '{name}'; known: {string.Join(", ", All.Select(g => g.Name))}.");
}

/// <summary>
/// A tier's model as measured on one H100 (CUDA-graph floor, saturated tokens/s, 16-bit weights): the reference every GPU
/// type's speed is scaled from. The 4B's figures are this repository's (bench/results/gpu-batches-2026-11-25.md); the
/// 0.6B's and 8B's come from the same kind of run recorded in the project's shared measurement notes, not in this repository.
/// </summary>
public sealed record TierModel(string Name, double WeightsGiB, GpuLatencyModel OnH100)
{
    public static readonly IReadOnlyList<TierModel> All =
    [
        new("qwen3-embedding-0.6b", 1.1, new GpuLatencyModel(FloorMilliseconds: 4.7, PeakTokensPerSecond: 170_000)),
        new("qwen3-embedding-4b", GpuType.Weights4BGiB, new GpuLatencyModel(FloorMilliseconds: 8.6, PeakTokensPerSecond: 48_000)),
        new("qwen3-embedding-8b", 14.4, new GpuLatencyModel(FloorMilliseconds: 11.2, PeakTokensPerSecond: 30_000)),
    ];

    public static TierModel For(string tier) =>
        All.FirstOrDefault(m => string.Equals(m.Name, tier, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"No H100 measurements for tier '{tier}'; known: {string.Join(", ", All.Select(m => m.Name))}.");
}
