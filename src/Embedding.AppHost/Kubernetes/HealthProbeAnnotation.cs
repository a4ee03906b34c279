using Aspire.Hosting.ApplicationModel;

namespace Embedding.AppHost.Kubernetes;

/// <summary>
/// An HTTP readiness path: the dashboard's health check locally, the pod's readiness and startup probes when published.
/// Without <see cref="Timing"/>, the probes of a service that answers at once, with the startup budget of its scaling policy.
/// </summary>
public sealed record HealthProbeAnnotation(string Path, string Endpoint, ProbeTiming? Timing = null) : IResourceAnnotation;
