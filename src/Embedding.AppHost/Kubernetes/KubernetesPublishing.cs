using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Embedding.AppHost.Kubernetes;

/// <summary>
/// The one seam between the AppHost and Kubernetes publishing. <c>dotnet run -- --publisher kubernetes --output-path DIR</c>
/// builds the app model in publish mode and writes manifests from it instead of running anything. Aspire.Hosting.Kubernetes
/// is not on the registry this project can reach; where it is, this call becomes <c>builder.AddKubernetesEnvironment(...)</c>
/// and <c>aspire publish</c>, and the annotations below (queue scaling, sidecar, GPU, probes) map onto its customisation hooks.
/// </summary>
public static class KubernetesPublishing
{
    public static async Task<bool> PublishKubernetesIfAskedAsync(this DistributedApplication app, IConfiguration configuration, KubernetesSettings settings)
    {
        if (!string.Equals(configuration["Publishing:Publisher"], "kubernetes", StringComparison.OrdinalIgnoreCase)) return false;

        var output = Path.GetFullPath(configuration["Pipeline:OutputPath"] ?? "kubernetes");
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Embedding.AppHost.Kubernetes");
        var manifests = new KubernetesManifests(app.Services.GetRequiredService<DistributedApplicationModel>(),
            app.Services.GetRequiredService<DistributedApplicationExecutionContext>(), settings, logger);
        foreach (var file in await manifests.WriteAsync(output)) logger.LogInformation("Wrote {File}", file);
        return true;
    }
}
