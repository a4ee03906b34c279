using k8s.Models;

namespace Embedding.AppHost.Kubernetes;

/// <summary>The plain Kubernetes objects every workload shares: secrets, volumes and their claims, metadata.</summary>
public static class KubernetesObjects
{
    /// <summary>The GPU container's /dev/shm: what `--ipc=host` gives the engine under docker.</summary>
    public const string SharedMemory = "dshm";

    public static V1Secret Secret(string name, Dictionary<string, string> data) =>
        new() { ApiVersion = "v1", Kind = "Secret", Metadata = Meta(name), StringData = data };

    public static V1Volume Volume(string name) => name == SharedMemory
        ? new() { Name = name, EmptyDir = new V1EmptyDirVolumeSource { Medium = "Memory" } }
        : new() { Name = name, PersistentVolumeClaim = new V1PersistentVolumeClaimVolumeSource { ClaimName = name } };

    /// <summary>Shared by every replica (model weights, caches): ReadWriteMany, so replicas on any node can mount it.</summary>
    public static V1PersistentVolumeClaim Claim(string name) => new()
    {
        ApiVersion = "v1", Kind = "PersistentVolumeClaim",
        Metadata = Meta(name),
        Spec = new V1PersistentVolumeClaimSpec
        {
            AccessModes = ["ReadWriteMany"],
            Resources = new V1VolumeResourceRequirements { Requests = new Dictionary<string, ResourceQuantity> { ["storage"] = new("100Gi") } },
        },
    };

    public static V1ObjectMeta Meta(string name, IDictionary<string, string>? labels = null) =>
        new() { Name = name, Labels = labels ?? new Dictionary<string, string> { ["app.kubernetes.io/part-of"] = "embedding" } };
}
