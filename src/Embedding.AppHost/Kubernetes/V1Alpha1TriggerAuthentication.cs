using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace Embedding.AppHost.Kubernetes;

// KEDA's TriggerAuthentication and its parts (keda.sh/v1alpha1), typed like KubernetesClient's own models so that
// KubernetesYaml serialises them the same way. Only the fields this service sets are modelled.

public sealed class V1Alpha1TriggerAuthentication : IKubernetesObject<V1ObjectMeta>
{
    [JsonPropertyName("apiVersion")] public string ApiVersion { get; set; } = "keda.sh/v1alpha1";
    [JsonPropertyName("kind")] public string Kind { get; set; } = "TriggerAuthentication";
    [JsonPropertyName("metadata")] public V1ObjectMeta Metadata { get; set; } = new();
    [JsonPropertyName("spec")] public TriggerAuthenticationSpec Spec { get; set; } = new();
}

public sealed class TriggerAuthenticationSpec
{
    [JsonPropertyName("secretTargetRef")] public List<SecretTargetRef> SecretTargetRef { get; set; } = [];
}

public sealed class SecretTargetRef
{
    [JsonPropertyName("parameter")] public string Parameter { get; set; } = "";
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("key")] public string Key { get; set; } = "";
}
