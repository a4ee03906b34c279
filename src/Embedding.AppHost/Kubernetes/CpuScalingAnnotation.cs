using Aspire.Hosting.ApplicationModel;

namespace Embedding.AppHost.Kubernetes;

/// <summary>Marks a service scaled on CPU when published: the Kubernetes publisher writes its HorizontalPodAutoscaler and PodDisruptionBudget.</summary>
public sealed record CpuScalingAnnotation(ApiScalingSettings Settings) : IResourceAnnotation;
