using k8s.Models;
using static Embedding.AppHost.Kubernetes.KubernetesObjects;

namespace Embedding.AppHost.Kubernetes;

/// <summary>
/// A CPU-scaled service's objects: an autoscaling/v2 HorizontalPodAutoscaler on average CPU utilization (which needs
/// the container's CPU request, <see cref="Requests"/>), and a policy/v1 PodDisruptionBudget allowing one replica
/// down at a time, so a drain never takes every replica at once.
/// </summary>
public static class CpuScaling
{
    public static V1ResourceRequirements Requests(ApiScalingSettings settings) => new()
    {
        Requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new(settings.CpuRequest), ["memory"] = new(settings.MemoryRequest) },
    };

    public static List<object> For(string name, IDictionary<string, string> labels, ApiScalingSettings settings) =>
    [
        new V2HorizontalPodAutoscaler
        {
            ApiVersion = "autoscaling/v2", Kind = "HorizontalPodAutoscaler",
            Metadata = Meta(name, labels),
            Spec = new V2HorizontalPodAutoscalerSpec
            {
                ScaleTargetRef = new V2CrossVersionObjectReference { ApiVersion = "apps/v1", Kind = "Deployment", Name = name },
                MinReplicas = settings.MinReplicas,
                MaxReplicas = settings.MaxReplicas,
                Metrics =
                [
                    new V2MetricSpec
                    {
                        Type = "Resource",
                        Resource = new V2ResourceMetricSource
                        {
                            Name = "cpu",
                            Target = new V2MetricTarget { Type = "Utilization", AverageUtilization = settings.TargetCpuUtilization },
                        },
                    },
                ],
            },
        },
        new V1PodDisruptionBudget
        {
            ApiVersion = "policy/v1", Kind = "PodDisruptionBudget",
            Metadata = Meta(name, labels),
            Spec = new V1PodDisruptionBudgetSpec { MaxUnavailable = 1, Selector = new V1LabelSelector { MatchLabels = labels } },
        },
    ];
}
