using Aspire.Hosting.ApplicationModel;

namespace Embedding.AppHost.Kubernetes;

/// <summary>A project published as an image of another name than its own (the CUDA worker: deploy/cuda-worker/Dockerfile), in the same registry.</summary>
public sealed record PublishedImageAnnotation(string Name) : IResourceAnnotation;
