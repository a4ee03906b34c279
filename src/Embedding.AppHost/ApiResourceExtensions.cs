using Aspire.Hosting.ApplicationModel;
using Embedding.AppHost.Kubernetes;

namespace Embedding.AppHost;

/// <summary>The API's wiring: the models it lists and where it keeps batch jobs.</summary>
public static class ApiResourceExtensions
{
    /// <summary>The API's connection name for the batch store's PostgreSQL (ConnectionStrings__batches).</summary>
    public const string BatchesConnectionName = "batches";

    /// <summary>Lists a tier among the API's models, as the API binds it (Api:Models:{index}).</summary>
    public static IResourceBuilder<ProjectResource> WithModel(this IResourceBuilder<ProjectResource> api, int index, TierPlan plan)
    {
        foreach (var (key, value) in plan.ListingSettings($"Api:Models:{index}")) api.WithEnvironment(ConfigurationKeys.EnvironmentName(key), value);
        return api;
    }

    /// <summary>
    /// Several API replicas: here <paramref name="settings"/>' ApiReplicas processes behind the one endpoint; when
    /// published, an autoscaler on CPU and a disruption budget (<see cref="ApiScalingSettings"/>).
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithApiReplicas(this IResourceBuilder<ProjectResource> api, EmbeddingSettings settings)
    {
        if (api.ApplicationBuilder.ExecutionContext.IsPublishMode) return api.WithAnnotation(new CpuScalingAnnotation(settings.ApiScaling));
        return settings.ApiReplicas == 1 ? api : api.WithReplicas(settings.ApiReplicas);
    }

    /// <summary>
    /// Where the API keeps batch jobs' files (the jobs themselves are in PostgreSQL): under .data/ beside the local
    /// servers' data when run here; on a persistent volume when published (a ReadWriteMany PersistentVolumeClaim in the
    /// Kubernetes manifests), so files survive the pod and every API replica reads what another wrote.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithBatchStorage(this IResourceBuilder<ProjectResource> api)
    {
        if (!api.ApplicationBuilder.ExecutionContext.IsPublishMode)
            return api.WithEnvironment("Api__Batches__StoragePath", InfrastructureExtensions.DataDirectory(api.ApplicationBuilder, "batches"));
        const string mountPath = "/data/batches";
        return api.WithAnnotation(new ContainerMountAnnotation("batch-data", mountPath, ContainerMountType.Volume, isReadOnly: false))
                  .WithEnvironment("Api__Batches__StoragePath", mountPath);
    }
}
