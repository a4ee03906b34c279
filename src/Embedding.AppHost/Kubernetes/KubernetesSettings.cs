namespace Embedding.AppHost.Kubernetes;

/// <summary>
/// Where published images live: projects become images named after them (Embedding.Api -> embedding-api), a CUDA tier's
/// worker the CUDA worker image (embedding-cuda-worker, deploy/cuda-worker/Dockerfile).
/// </summary>
public sealed class KubernetesSettings
{
    public string Registry { get; set; } = "ghcr.io/your-org";
    public string ImageTag { get; set; } = "latest";

    /// <summary>Seconds a worker pod gets to drain on scale-in: the bus's stop timeout (30 s) plus the batch in flight.</summary>
    public int TerminationGracePeriodSeconds { get; set; } = 90;
}
