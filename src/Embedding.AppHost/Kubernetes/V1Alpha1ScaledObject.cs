using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace Embedding.AppHost.Kubernetes;

// KEDA's ScaledObject and its parts (keda.sh/v1alpha1), typed like KubernetesClient's own models so that
// KubernetesYaml serialises them the same way. Only the fields this service sets are modelled.

public sealed class V1Alpha1ScaledObject : IKubernetesObject<V1ObjectMeta>
{
    [JsonPropertyName("apiVersion")] public string ApiVersion { get; set; } = "keda.sh/v1alpha1";
    [JsonPropertyName("kind")] public string Kind { get; set; } = "ScaledObject";
    [JsonPropertyName("metadata")] public V1ObjectMeta Metadata { get; set; } = new();
    [JsonPropertyName("spec")] public ScaledObjectSpec Spec { get; set; } = new();
}

public sealed class ScaledObjectSpec
{
    [JsonPropertyName("scaleTargetRef")] public ScaleTarget ScaleTargetRef { get; set; } = new();
    [JsonPropertyName("pollingInterval")] public int PollingInterval { get; set; }
    [JsonPropertyName("cooldownPeriod")] public int CooldownPeriod { get; set; }
    [JsonPropertyName("initialCooldownPeriod")] public int InitialCooldownPeriod { get; set; }
    [JsonPropertyName("minReplicaCount")] public int MinReplicaCount { get; set; }
    [JsonPropertyName("maxReplicaCount")] public int MaxReplicaCount { get; set; }
    [JsonPropertyName("advanced")] public AdvancedConfig? Advanced { get; set; }
    [JsonPropertyName("triggers")] public List<ScaleTrigger> Triggers { get; set; } = [];
}

public sealed class ScaleTarget
{
    [JsonPropertyName("apiVersion")] public string ApiVersion { get; set; } = "apps/v1";
    [JsonPropertyName("kind")] public string Kind { get; set; } = "Deployment";
    [JsonPropertyName("name")] public string Name { get; set; } = "";
}

public sealed class AdvancedConfig
{
    [JsonPropertyName("horizontalPodAutoscalerConfig")] public HorizontalPodAutoscalerConfig HorizontalPodAutoscalerConfig { get; set; } = new();
}

public sealed class HorizontalPodAutoscalerConfig
{
    [JsonPropertyName("behavior")] public V2HorizontalPodAutoscalerBehavior Behavior { get; set; } = new();
}

public sealed class ScaleTrigger
{
    [JsonPropertyName("type")] public string Type { get; set; } = "";
    [JsonPropertyName("metadata")] public Dictionary<string, string> Metadata { get; set; } = [];
    [JsonPropertyName("authenticationRef")] public AuthenticationRef? AuthenticationRef { get; set; }
}

public sealed class AuthenticationRef
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
}
