using Aspire.Hosting.ApplicationModel;
using Embedding.AppHost.Kubernetes;

namespace Embedding.AppHost;

/// <summary>The API's wiring and what every service gets when published (health probes, Prometheus).</summary>
public static partial class AppHostExtensions
{
    /// <summary>Lists a tier among the API's models: its identity, as the API binds it (Api:Models:{index}).</summary>
    public static IResourceBuilder<ProjectResource> WithModel(this IResourceBuilder<ProjectResource> api, int index, TierSettings tier)
    {
        foreach (var (key, value) in tier.ToSettings($"Api:Models:{index}")) api.WithEnvironment(key.Replace(":", "__"), value);
        return api;
    }

    /// <summary>Deployed services also offer Prometheus scraping at /metrics (clusters often scrape rather than receive OTLP).</summary>
    public static IResourceBuilder<ProjectResource> WithPrometheusWhenPublished(this IResourceBuilder<ProjectResource> project) =>
        project.ApplicationBuilder.ExecutionContext.IsPublishMode ? project.WithEnvironment("Telemetry__Prometheus", "true") : project;

    /// <summary>
    /// Where the API keeps batch jobs and their files: under .data/ beside the local servers' data when run here; on a
    /// persistent volume (a PersistentVolumeClaim in the Kubernetes manifests) when published, so jobs survive the pod.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithBatchStorage(this IResourceBuilder<ProjectResource> api)
    {
        if (!api.ApplicationBuilder.ExecutionContext.IsPublishMode)
            return api.WithEnvironment("Api__Batches__StoragePath", DataDirectory(api.ApplicationBuilder, "batches"));
        const string mountPath = "/data/batches";
        return api.WithAnnotation(new ContainerMountAnnotation("batch-data", mountPath, ContainerMountType.Volume, isReadOnly: false))
                  .WithEnvironment("Api__Batches__StoragePath", mountPath);
    }

    /// <summary>One readiness path for both worlds: the dashboard's health check here, the pod's probes when published.</summary>
    public static IResourceBuilder<T> WithHealthProbe<T>(this IResourceBuilder<T> resource, string path, string endpoint = "http")
        where T : IResourceWithEndpoints =>
        resource.WithHttpHealthCheck(path, endpointName: endpoint).WithAnnotation(new HealthProbeAnnotation(path, endpoint));
}
