using System.Globalization;
using Aspire.Hosting.ApplicationModel;
using Embedding.AppHost.Scaling;
using Embedding.Scaling;
using k8s.Models;
using static Embedding.AppHost.Kubernetes.KubernetesObjects;

namespace Embedding.AppHost.Kubernetes;

/// <summary>A queue-scaled worker's KEDA objects: the ScaledObject from its policy, and the TriggerAuthentication with the broker's secret.</summary>
public sealed class KedaScaling(ManifestValues values)
{
    public async Task<List<object>> ForAsync(IResource worker, QueueScalingAnnotation scaling, CancellationToken ct)
    {
        var policy = scaling.Policy;
        var auth = worker.Name + "-rabbitmq";
        // KEDA's http protocol reads the management API, whose "messages" include unacknowledged ones: work a
        // worker holds keeps its replica. The URL carries the broker's credentials, so it lives in a secret.
        var secret = Secret(auth, new() { ["host"] = (await values.ResolveAsync(scaling.ManagementUri, worker, ct)).Value });
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
}
