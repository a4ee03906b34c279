using Aspire.Hosting.ApplicationModel;
using Embedding.AppHost.Kubernetes;

namespace Embedding.AppHost;

/// <summary>What every service gets, here and when published: a readiness path, and Prometheus scraping when deployed.</summary>
public static class ServiceResourceExtensions
{
    /// <summary>Deployed services also offer Prometheus scraping at /metrics (clusters often scrape rather than receive OTLP).</summary>
    public static IResourceBuilder<ProjectResource> WithPrometheusWhenPublished(this IResourceBuilder<ProjectResource> project) =>
        project.ApplicationBuilder.ExecutionContext.IsPublishMode ? project.WithEnvironment("Telemetry__Prometheus", "true") : project;

    /// <summary>One readiness path for both worlds: the dashboard's health check here, the pod's probes when published.</summary>
    public static IResourceBuilder<T> WithHealthProbe<T>(this IResourceBuilder<T> resource, string path, ProbeTiming? timing = null, string endpoint = "http")
        where T : IResourceWithEndpoints =>
        resource.WithHttpHealthCheck(path, endpointName: endpoint).WithAnnotation(new HealthProbeAnnotation(path, endpoint, timing));
}
