using Aspire.Hosting.ApplicationModel;

namespace Embedding.AppHost.Kubernetes;

/// <summary>A container that runs inside another resource's pod, published as that pod's second container.</summary>
public sealed record SidecarAnnotation(ContainerResource Sidecar) : IResourceAnnotation;
