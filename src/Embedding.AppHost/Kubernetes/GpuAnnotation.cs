using Aspire.Hosting.ApplicationModel;

namespace Embedding.AppHost.Kubernetes;

/// <summary>The resource needs one NVIDIA GPU; of one product (GPU feature discovery's label) where it names one.</summary>
public sealed record GpuAnnotation(string? Product = null) : IResourceAnnotation;
