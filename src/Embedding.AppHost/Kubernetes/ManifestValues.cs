using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Logging;

namespace Embedding.AppHost.Kubernetes;

/// <summary>Values of the publish-mode app model (parameters, expressions, endpoints) as the text a manifest holds.</summary>
public sealed class ManifestValues(ILogger logger)
{
    private const int DefaultProjectPort = 8080;

    /// <summary>
    /// A value from the app model as text, and whether it came from a secret. Parameters and derived values are asked of
    /// Aspire itself (GetValueAsync); endpoints are mapped here because at publish time they have no allocated address
    /// and Aspire's resolver (internal) answers for its own networks, not a cluster's: a Service name and target port,
    /// or localhost for a sidecar. Aspire's own Kubernetes publisher (not on this feed) maps them the same way.
    /// </summary>
    public async Task<(string Value, bool Secret)> ResolveAsync(object? value, IResource pod, CancellationToken ct)
    {
        switch (value)
        {
            case null: return ("", false);
            case string s: return (s, false);
            case ParameterResource p: return (await ParameterValueAsync(p, ct), p.Secret);
            case IResourceBuilder<IResource> b: return await ResolveAsync(b.Resource, pod, ct);
            case ConnectionStringReference c: return await ResolveAsync(c.Resource.ConnectionStringExpression, pod, ct);
            case IResourceWithConnectionString r: return await ResolveAsync(r.ConnectionStringExpression, pod, ct);
            case EndpointReference e: return (Url(e.EndpointAnnotation, e.Resource, pod), false);
            case EndpointReferenceExpression x: return (EndpointProperty(x, pod), false);
            case ReferenceExpression expression:
            {
                var parts = new object[expression.ValueProviders.Count];
                var secret = false;
                for (var i = 0; i < parts.Length; i++)
                {
                    var (part, isSecret) = await ResolveAsync(expression.ValueProviders[i], pod, ct);
                    parts[i] = part;
                    secret |= isSecret;
                }
                return (string.Format(System.Globalization.CultureInfo.InvariantCulture, expression.Format, parts), secret);
            }
            case IValueProvider provider:
                // Derived values (an encoded password, a condition): computed by Aspire itself, kept secret to be safe.
                try { return (await provider.GetValueAsync(ct) ?? "", true); }
                catch (Exception ex)
                {
                    logger.LogWarning("Could not resolve {Value} for {Resource}: {Reason}", value, pod.Name, ex.Message);
                    return ("", true);
                }
            default: return (value.ToString() ?? "", false);
        }
    }

    private async Task<string> ParameterValueAsync(ParameterResource parameter, CancellationToken ct)
    {
        try
        {
            return await parameter.GetValueAsync(ct) ?? "";
        }
        catch (Exception)
        {
            // Not set at publish time: leave a marker the operator must replace before applying.
            logger.LogWarning("Parameter {Parameter} has no value; set Parameters:{Parameter} when publishing", parameter.Name, parameter.Name);
            return $"<set-{parameter.Name}>";
        }
    }

    private string EndpointProperty(EndpointReferenceExpression x, IResource pod)
    {
        var endpoint = x.Endpoint.EndpointAnnotation;
        var host = Host(x.Endpoint.Resource, pod);
        var port = TargetPort(endpoint).ToString();
        return x.Property switch
        {
            Aspire.Hosting.ApplicationModel.EndpointProperty.Host => host,
            Aspire.Hosting.ApplicationModel.EndpointProperty.Port or Aspire.Hosting.ApplicationModel.EndpointProperty.TargetPort => port,
            Aspire.Hosting.ApplicationModel.EndpointProperty.HostAndPort => $"{host}:{port}",
            Aspire.Hosting.ApplicationModel.EndpointProperty.Scheme => endpoint.UriScheme,
            Aspire.Hosting.ApplicationModel.EndpointProperty.TlsEnabled => endpoint.TlsEnabled ? "true" : "false",
            _ => Url(endpoint, x.Endpoint.Resource, pod),
        };
    }

    private static string Url(EndpointAnnotation endpoint, IResource target, IResource pod) =>
        $"{endpoint.UriScheme}://{Host(target, pod)}:{TargetPort(endpoint)}";

    /// <summary>Services are reached by their Service name; a sidecar by localhost, from inside its own pod.</summary>
    private static string Host(IResource target, IResource pod) =>
        pod.Annotations.OfType<SidecarAnnotation>().Any(s => s.Sidecar == target) ? "localhost" : target.Name;

    public static int TargetPort(EndpointAnnotation endpoint) => endpoint.TargetPort ?? endpoint.Port ?? DefaultProjectPort;

    /// <summary>Endpoints published as ports: plain HTTP for projects (TLS ends at the ingress), all of a container's.</summary>
    public static IEnumerable<EndpointAnnotation> Endpoints(IResource resource) =>
        resource.Annotations.OfType<EndpointAnnotation>().Where(e => resource is not ProjectResource || e.UriScheme == "http");
}
