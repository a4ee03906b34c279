using System.Globalization;
using Aspire.Hosting.ApplicationModel;
using Embedding.AppHost.Scaling;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Embedding.Scaling;

namespace Embedding.AppHost.Kubernetes;

/// <summary>Where published images live: projects become images named after them (Embedding.Api -> embedding-api).</summary>
public sealed class KubernetesSettings
{
    public string Registry { get; set; } = "ghcr.io/your-org";
    public string ImageTag { get; set; } = "latest";

    /// <summary>Seconds a worker pod gets to drain on scale-in: the bus's stop timeout (30 s) plus the batch in flight.</summary>
    public int TerminationGracePeriodSeconds { get; set; } = 90;
}

/// <summary>A container that runs inside another resource's pod, published as that pod's second container.</summary>
public sealed record SidecarAnnotation(ContainerResource Sidecar) : IResourceAnnotation;

/// <summary>The resource needs one NVIDIA GPU; of one product (GPU feature discovery's label) where it names one.</summary>
public sealed record GpuAnnotation(string? Product = null) : IResourceAnnotation;

/// <summary>An HTTP readiness path: the dashboard's health check locally, the pod's readiness and startup probes when published.</summary>
public sealed record HealthProbeAnnotation(string Path, string Endpoint) : IResourceAnnotation;

/// <summary>
/// Turns the AppHost's publish-mode app model into Kubernetes objects: a Deployment (and Service) per project
/// and container, sidecars merged into their pod, secrets for every value built from a secret parameter, and
/// for each queue-scaled worker a KEDA ScaledObject with its TriggerAuthentication. Typed KubernetesClient
/// objects, serialised with KubernetesYaml; one file per resource.
/// </summary>
public sealed class KubernetesManifests(DistributedApplicationModel model, DistributedApplicationExecutionContext context,
                                        KubernetesSettings settings, ILogger logger)
{
    private const int DefaultProjectPort = 8080;
    private const string SharedMemory = "dshm";
    private readonly HashSet<string> _claims = new(StringComparer.Ordinal);

    /// <summary>Writes the manifests into <paramref name="directory"/>; returns the files written.</summary>
    public async Task<IReadOnlyList<string>> WriteAsync(string directory, CancellationToken ct = default)
    {
        Directory.CreateDirectory(directory);
        var written = new List<string>();
        foreach (var (name, objects) in await BuildAsync(ct))
        {
            var path = Path.Combine(directory, name + ".yaml");
            await File.WriteAllTextAsync(path, string.Join("---\n", objects.Select(o => KubernetesYaml.Serialize(o).TrimEnd() + "\n")), ct);
            written.Add(path);
        }
        return written;
    }

    /// <summary>The objects, grouped by the file (resource) they belong to.</summary>
    public async Task<List<(string File, List<object> Objects)>> BuildAsync(CancellationToken ct = default)
    {
        var sidecars = model.Resources.SelectMany(r => r.Annotations.OfType<SidecarAnnotation>()).Select(a => (IResource)a.Sidecar).ToHashSet();
        var files = new List<(string, List<object>)>();
        foreach (var resource in model.Resources)
        {
            if (sidecars.Contains(resource) || resource is not (ProjectResource or ContainerResource)) continue;
            files.Add((resource.Name, await WorkloadAsync(resource, ct)));
        }
        if (_claims.Count > 0) files.Add(("volumes", _claims.Order().Select(Claim).ToList<object>()));
        return files;
    }

    private async Task<List<object>> WorkloadAsync(IResource resource, CancellationToken ct)
    {
        var secret = Secret(resource.Name + "-env", []);
        var members = new List<IResource> { resource };
        members.AddRange(resource.Annotations.OfType<SidecarAnnotation>().Select(a => a.Sidecar));
        // The GPU container goes first (Azure Container Apps requires it; Kubernetes does not mind).
        members = members.OrderBy(m => m.Annotations.OfType<GpuAnnotation>().Any() ? 0 : 1).ToList();

        var containers = new List<V1Container>();
        foreach (var member in members) containers.Add(await ContainerAsync(member, resource, secret, ct));

        var scaling = resource.Annotations.OfType<QueueScalingAnnotation>().SingleOrDefault();
        var gpu = members.SelectMany(m => m.Annotations.OfType<GpuAnnotation>()).FirstOrDefault();
        var pod = new V1PodSpec
        {
            Containers = containers,
            Volumes = containers.SelectMany(c => c.VolumeMounts ?? []).Select(m => m.Name).Distinct().Select(Volume).ToList(),
        };
        if (gpu is not null)
        {
            pod.NodeSelector = gpu.Product is { } product
                ? new Dictionary<string, string> { ["nvidia.com/gpu.product"] = product }
                : new Dictionary<string, string> { ["nvidia.com/gpu.present"] = "true" };
            pod.Tolerations = [new V1Toleration { Key = "nvidia.com/gpu", OperatorProperty = "Exists", Effect = "NoSchedule" }];
        }
        if (scaling is not null) pod.TerminationGracePeriodSeconds = settings.TerminationGracePeriodSeconds;
        if (pod.Volumes.Count == 0) pod.Volumes = null;

        var labels = new Dictionary<string, string> { ["app.kubernetes.io/name"] = resource.Name, ["app.kubernetes.io/part-of"] = "embedding" };
        var objects = new List<object>();
        if (secret.StringData.Count > 0) objects.Add(secret);
        objects.Add(new V1Deployment
        {
            ApiVersion = "apps/v1", Kind = "Deployment",
            Metadata = Meta(resource.Name, labels),
            Spec = new V1DeploymentSpec
            {
                // KEDA owns a queue-scaled worker's replica count, starting from the policy's minimum (zero); others run as asked.
                Replicas = scaling?.Policy.MinReplicas ?? (resource.TryGetLastAnnotation<ReplicaAnnotation>(out var replicas) ? replicas.Replicas : 1),
                Selector = new V1LabelSelector { MatchLabels = labels },
                Template = new V1PodTemplateSpec { Metadata = new V1ObjectMeta { Labels = labels, Annotations = ScrapeAnnotations(containers) }, Spec = pod },
            },
        });

        var ports = containers[members.IndexOf(resource)].Ports;
        if (scaling is null && ports is { Count: > 0 })
            objects.Add(new V1Service
            {
                ApiVersion = "v1", Kind = "Service",
                Metadata = Meta(resource.Name, labels),
                Spec = new V1ServiceSpec
                {
                    Selector = labels,
                    Type = Endpoints(resource).Any(e => e.IsExternal) ? "LoadBalancer" : "ClusterIP",
                    Ports = ports.Select(p => new V1ServicePort { Name = p.Name, Port = p.ContainerPort, TargetPort = p.ContainerPort }).ToList(),
                },
            });
        if (scaling is not null) objects.AddRange(await ScalingAsync(resource, scaling, ct));
        return objects;
    }

    private async Task<V1Container> ContainerAsync(IResource member, IResource pod, V1Secret secret, CancellationToken ct)
    {
        var container = new V1Container { Name = member.Name, Image = Image(member), Env = [] };

        var environment = new Dictionary<string, object>();
        var envContext = new EnvironmentCallbackContext(context, member, environment, ct);
        foreach (var callback in member.Annotations.OfType<EnvironmentCallbackAnnotation>()) await callback.Callback(envContext);
        foreach (var (key, raw) in environment)
        {
            var (value, isSecret) = await ResolveAsync(raw, pod, ct);
            if (!isSecret) { container.Env.Add(new V1EnvVar { Name = key, Value = value }); continue; }
            var secretKey = $"{member.Name}.{key}";
            secret.StringData[secretKey] = value;
            container.Env.Add(new V1EnvVar { Name = key, ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Key = secretKey, Name = secret.Metadata.Name } } });
        }

        if (member is ContainerResource { Entrypoint: { Length: > 0 } entrypoint }) container.Command = [entrypoint];
        var args = new List<object>();
        var argsContext = new CommandLineArgsCallbackContext(args, member, ct) { ExecutionContext = context };
        foreach (var callback in member.Annotations.OfType<CommandLineArgsCallbackAnnotation>()) await callback.Callback(argsContext);
        if (container.Env.Count == 0) container.Env = null;
        if (args.Count > 0)
        {
            container.Args = [];
            foreach (var arg in args) container.Args.Add((await ResolveAsync(arg, pod, ct)).Value);
        }

        container.Ports = Endpoints(member).Select(e => new V1ContainerPort { ContainerPort = TargetPort(e), Name = e.Name }).ToList();
        if (container.Ports.Count == 0) container.Ports = null;

        if (member.Annotations.OfType<HealthProbeAnnotation>().SingleOrDefault() is { } probe)
        {
            var scaling = pod.Annotations.OfType<QueueScalingAnnotation>().SingleOrDefault();
            var get = new V1HTTPGetAction { Path = probe.Path, Port = TargetPort(Endpoints(member).Single(e => e.Name == probe.Endpoint)) };
            container.ReadinessProbe = new V1Probe { HttpGet = get, PeriodSeconds = 5, FailureThreshold = 3 };
            // Loading a model may take a while: the startup probe allows the policy's StartupSeconds before liveness counts.
            container.StartupProbe = new V1Probe { HttpGet = get, PeriodSeconds = 5, FailureThreshold = Math.Max(1, (scaling?.Policy.StartupSeconds ?? 60) / 5) };
        }

        if (member.Annotations.OfType<GpuAnnotation>().Any())
        {
            container.Resources = new V1ResourceRequirements { Limits = new Dictionary<string, ResourceQuantity> { ["nvidia.com/gpu"] = new("1") } };
            // What `--ipc=host` gives the engine under docker: a large /dev/shm for its worker processes.
            container.VolumeMounts = [new V1VolumeMount { MountPath = "/dev/shm", Name = SharedMemory }];
        }

        if (member.TryGetContainerMounts(out var mounts))
        {
            container.VolumeMounts ??= [];
            foreach (var mount in mounts.Where(m => m.Source is { Length: > 0 }))
            {
                _claims.Add(mount.Source!);
                container.VolumeMounts.Add(new V1VolumeMount { MountPath = mount.Target, Name = mount.Source!, ReadOnlyProperty = mount.IsReadOnly ? true : null });
            }
            if (container.VolumeMounts.Count == 0) container.VolumeMounts = null;
        }
        return container;
    }

    private async Task<List<object>> ScalingAsync(IResource worker, QueueScalingAnnotation scaling, CancellationToken ct)
    {
        var policy = scaling.Policy;
        var auth = worker.Name + "-rabbitmq";
        // KEDA's http protocol reads the management API, whose "messages" include unacknowledged ones: work a
        // worker holds keeps its replica. The URL carries the broker's credentials, so it lives in a secret.
        var secret = Secret(auth, new() { ["host"] = (await ResolveAsync(scaling.ManagementUri, worker, ct)).Value });
        var trigger = new V1Alpha1TriggerAuthentication
        {
            Metadata = Meta(auth),
            Spec = new TriggerAuthenticationSpec { SecretTargetRef = [new SecretTargetRef { Parameter = "host", Name = auth, Key = "host" }] },
        };
        var scaledObject = new V1Alpha1ScaledObject
        {
            Metadata = Meta(worker.Name),
            Spec = new ScaledObjectSpec
            {
                ScaleTargetRef = new ScaleTarget { Name = worker.Name },
                PollingInterval = policy.PollingIntervalSeconds,
                CooldownPeriod = policy.CooldownSeconds,
                // A replica that just came up is loading its model: no scale-in before it could have served.
                InitialCooldownPeriod = policy.StartupSeconds,
                MinReplicaCount = policy.MinReplicas,
                MaxReplicaCount = policy.MaxReplicas,
                Advanced = new AdvancedConfig
                {
                    HorizontalPodAutoscalerConfig = new HorizontalPodAutoscalerConfig
                    {
                        // Between 1 and N replicas the HPA scales in after the policy's scale-in window, as the local autoscaler does.
                        Behavior = new V2HorizontalPodAutoscalerBehavior { ScaleDown = new V2HPAScalingRules { StabilizationWindowSeconds = policy.ScaleInWindowSeconds } },
                    },
                },
                Triggers = RabbitMqTriggers(scaling.Queue, policy, auth),
            },
        };
        return [secret, trigger, scaledObject];
    }

    /// <summary>
    /// The queue-depth trigger, and where the policy sets a target rate, a second trigger on the publish rate (KEDA takes
    /// the larger replica count, and the tier is active while either trigger is).
    /// </summary>
    private static List<ScaleTrigger> RabbitMqTriggers(string queue, ScalingPolicy policy, string auth)
    {
        ScaleTrigger Trigger(string mode, string value, string activation) => new()
        {
            Type = "rabbitmq",
            Metadata = new Dictionary<string, string>
            {
                ["protocol"] = "http",
                ["queueName"] = queue,
                ["mode"] = mode,
                ["value"] = value,
                ["activationValue"] = activation,
                ["vhostName"] = "/",
            },
            AuthenticationRef = new AuthenticationRef { Name = auth },
        };
        var triggers = new List<ScaleTrigger> { Trigger("QueueLength", policy.TargetQueueLength.ToString(), policy.ActivationQueueLength.ToString()) };
        if (policy.TargetMessageRate > 0)
            triggers.Add(Trigger("MessageRate", policy.TargetMessageRate.ToString(CultureInfo.InvariantCulture), policy.ActivationMessageRate.ToString(CultureInfo.InvariantCulture)));
        return triggers;
    }

    /// <summary>
    /// A value from the app model as text, and whether it came from a secret. Parameters and derived values are asked of
    /// Aspire itself (GetValueAsync); endpoints are mapped here because at publish time they have no allocated address
    /// and Aspire's resolver (internal) answers for its own networks, not a cluster's: a Service name and target port,
    /// or localhost for a sidecar. Aspire's own Kubernetes publisher (not on this feed) maps them the same way.
    /// </summary>
    private async Task<(string Value, bool Secret)> ResolveAsync(object? value, IResource pod, CancellationToken ct)
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

    private static int TargetPort(EndpointAnnotation endpoint) => endpoint.TargetPort ?? endpoint.Port ?? DefaultProjectPort;

    /// <summary>Endpoints published as ports: plain HTTP for projects (TLS ends at the ingress), all of a container's.</summary>
    private static IEnumerable<EndpointAnnotation> Endpoints(IResource resource) =>
        resource.Annotations.OfType<EndpointAnnotation>().Where(e => resource is not ProjectResource || e.UriScheme == "http");

    private string Image(IResource resource)
    {
        if (resource is ProjectResource project)
        {
            var name = Path.GetFileNameWithoutExtension(project.GetProjectMetadata().ProjectPath).ToLowerInvariant().Replace('.', '-');
            return $"{settings.Registry}/{name}:{settings.ImageTag}";
        }
        return resource.TryGetContainerImageName(out var image) ? image : throw new InvalidOperationException($"{resource.Name} has no image");
    }

    /// <summary>The usual prometheus.io annotations for a pod whose service serves /metrics (Telemetry__Prometheus=true).</summary>
    private static Dictionary<string, string>? ScrapeAnnotations(List<V1Container> containers)
    {
        var scraped = containers.FirstOrDefault(c => c.Env?.Any(e => e.Name == "Telemetry__Prometheus" && e.Value == "true") == true);
        if (scraped?.Ports?.FirstOrDefault(p => p.Name == "http") is not { } port) return null;
        return new Dictionary<string, string>
        {
            ["prometheus.io/scrape"] = "true", ["prometheus.io/port"] = port.ContainerPort.ToString(), ["prometheus.io/path"] = "/metrics",
        };
    }

    private static V1Secret Secret(string name, Dictionary<string, string> data) =>
        new() { ApiVersion = "v1", Kind = "Secret", Metadata = Meta(name), StringData = data };

    private static V1Volume Volume(string name) => name == SharedMemory
        ? new() { Name = name, EmptyDir = new V1EmptyDirVolumeSource { Medium = "Memory" } }
        : new() { Name = name, PersistentVolumeClaim = new V1PersistentVolumeClaimVolumeSource { ClaimName = name } };

    /// <summary>Shared by every replica (model weights, caches): ReadWriteMany, so replicas on any node can mount it.</summary>
    private static V1PersistentVolumeClaim Claim(string name) => new()
    {
        ApiVersion = "v1", Kind = "PersistentVolumeClaim",
        Metadata = Meta(name),
        Spec = new V1PersistentVolumeClaimSpec
        {
            AccessModes = ["ReadWriteMany"],
            Resources = new V1VolumeResourceRequirements { Requests = new Dictionary<string, ResourceQuantity> { ["storage"] = new("100Gi") } },
        },
    };

    private static V1ObjectMeta Meta(string name, IDictionary<string, string>? labels = null) =>
        new() { Name = name, Labels = labels ?? new Dictionary<string, string> { ["app.kubernetes.io/part-of"] = "embedding" } };
}
