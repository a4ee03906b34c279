namespace Embedding.AppHost;

/// <summary>
/// How the API scales when published to Kubernetes (<c>Embedding:ApiScaling</c>): a HorizontalPodAutoscaler on CPU
/// between <see cref="MinReplicas"/> and <see cref="MaxReplicas"/>, and a PodDisruptionBudget that keeps all but one
/// replica up through a node drain. The API holds no state of its own (cache and limits in Redis, requests in
/// RabbitMQ), so any replica serves any request. Locally, <c>Embedding:ApiReplicas</c> sets how many run.
/// </summary>
public sealed class ApiScalingSettings
{
    /// <summary>At least two: losing a pod (a node drain, a crash) leaves one serving.</summary>
    public int MinReplicas { get; set; } = 2;

    public int MaxReplicas { get; set; } = 10;

    /// <summary>Average CPU use, as a share of the request, the autoscaler keeps replicas near.</summary>
    public int TargetCpuUtilization { get; set; } = 70;

    /// <summary>Each replica's CPU and memory request: the autoscaler's 100 %, and what the scheduler reserves.</summary>
    public string CpuRequest { get; set; } = "1";

    public string MemoryRequest { get; set; } = "1Gi";

    public ApiScalingSettings Validated()
    {
        if (MinReplicas < 1 || MaxReplicas < MinReplicas || TargetCpuUtilization is < 1 or > 100)
            throw new InvalidOperationException($"Embedding:ApiScaling: need 1 <= MinReplicas ({MinReplicas}) <= MaxReplicas ({MaxReplicas}) and TargetCpuUtilization ({TargetCpuUtilization}) in 1..100.");
        return this;
    }
}
