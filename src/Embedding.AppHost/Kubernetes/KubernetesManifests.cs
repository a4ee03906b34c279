using Aspire.Hosting.ApplicationModel;
using Embedding.AppHost.Scaling;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;
using static Embedding.AppHost.Kubernetes.KubernetesObjects;

namespace Embedding.AppHost.Kubernetes;

/// <summary>
/// Turns the AppHost's publish-mode app model into Kubernetes objects: a Deployment (and Service) per project
/// and container, sidecars merged into their pod, secrets for every value built from a secret parameter, and
/// for each queue-scaled worker a KEDA ScaledObject with its TriggerAuthentication, for the CPU-scaled API a
/// HorizontalPodAutoscaler and PodDisruptionBudget. Typed KubernetesClient
/// objects, serialised with KubernetesYaml; one file per resource.
/// </summary>
public sealed class KubernetesManifests(DistributedApplicationModel model, DistributedApplicationExecutionContext context,
                                        KubernetesSettings settings, ILogger logger)
{
    private readonly HashSet<string> _claims = new(StringComparer.Ordinal);
    private readonly ManifestValues _values = new(logger);

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
        var cpuScaling = resource.Annotations.OfType<CpuScalingAnnotation>().SingleOrDefault()?.Settings;
        if (cpuScaling is not null) containers[members.IndexOf(resource)].Resources = CpuScaling.Requests(cpuScaling);
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
                // KEDA owns a queue-scaled worker's replica count, starting from the policy's minimum (zero), the HPA a
                // CPU-scaled service's, from its minimum; others run as asked.
                Replicas = scaling?.Policy.MinReplicas ?? cpuScaling?.MinReplicas ?? (resource.TryGetLastAnnotation<ReplicaAnnotation>(out var replicas) ? replicas.Replicas : 1),
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
                    Type = ManifestValues.Endpoints(resource).Any(e => e.IsExternal) ? "LoadBalancer" : "ClusterIP",
                    Ports = ports.Select(p => new V1ServicePort { Name = p.Name, Port = p.ContainerPort, TargetPort = p.ContainerPort }).ToList(),
                },
            });
        if (scaling is not null) objects.AddRange(await new KedaScaling(_values).ForAsync(resource, scaling, ct));
        if (cpuScaling is not null) objects.AddRange(CpuScaling.For(resource.Name, labels, cpuScaling));
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
            var (value, isSecret) = await _values.ResolveAsync(raw, pod, ct);
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
            foreach (var arg in args) container.Args.Add((await _values.ResolveAsync(arg, pod, ct)).Value);
        }

        container.Ports = ManifestValues.Endpoints(member).Select(e => new V1ContainerPort { ContainerPort = ManifestValues.TargetPort(e), Name = e.Name }).ToList();
        if (container.Ports.Count == 0) container.Ports = null;

        if (member.Annotations.OfType<HealthProbeAnnotation>().SingleOrDefault() is { } probe)
        {
            var get = new V1HTTPGetAction { Path = probe.Path, Port = ManifestValues.TargetPort(ManifestValues.Endpoints(member).Single(e => e.Name == probe.Endpoint)) };
            // Loading a model may take a while: the startup probe allows the policy's StartupSeconds (or the probe's own
            // budget) before readiness counts.
            var startup = pod.Annotations.OfType<QueueScalingAnnotation>().SingleOrDefault()?.Policy.StartupSeconds ?? 60;
            var timing = probe.Timing ?? new ProbeTiming(PeriodSeconds: 5, TimeoutSeconds: 1, StartupSeconds: startup);
            container.ReadinessProbe = new V1Probe { HttpGet = get, PeriodSeconds = timing.PeriodSeconds, TimeoutSeconds = timing.TimeoutSeconds, FailureThreshold = 3 };
            container.StartupProbe = new V1Probe { HttpGet = get, PeriodSeconds = timing.PeriodSeconds, TimeoutSeconds = timing.TimeoutSeconds, FailureThreshold = timing.StartupFailureThreshold };
        }

        if (member.Annotations.OfType<GpuAnnotation>().Any())
        {
            container.Resources = new V1ResourceRequirements { Limits = new Dictionary<string, ResourceQuantity> { ["nvidia.com/gpu"] = new("1") } };
            // What `--ipc=host` gives the engine under docker: a large /dev/shm for its worker processes (a CUDA worker is one process).
            if (member is ContainerResource) container.VolumeMounts = [new V1VolumeMount { MountPath = "/dev/shm", Name = SharedMemory }];
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

    private string Image(IResource resource)
    {
        if (resource is ProjectResource project)
        {
            var name = resource.Annotations.OfType<PublishedImageAnnotation>().LastOrDefault()?.Name
                ?? Path.GetFileNameWithoutExtension(project.GetProjectMetadata().ProjectPath).ToLowerInvariant().Replace('.', '-');
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
}
