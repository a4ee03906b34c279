namespace Embedding.Contracts;

/// <summary>
/// How worker replicas follow their queue, defined once ("Embedding:Scaling") and used in all three places:
/// the local autoscaler under <c>dotnet run</c>, the KEDA ScaledObjects published for Kubernetes, and the
/// Azure Container Apps scale rules (infra/main.bicep reads the same JSON), and the elastic-cost simulator. Queue depth is RabbitMQ's
/// <c>messages</c> (ready + unacknowledged), so work a worker holds keeps its replica.
/// </summary>
public sealed class ScalingPolicy
{
    /// <summary>Queued messages one replica is expected to work through (KEDA's <c>value</c>).</summary>
    public int TargetQueueLength { get; set; } = 20;

    /// <summary>The queue must be deeper than this to wake a tier from zero (KEDA's <c>activationValue</c>).</summary>
    public int ActivationQueueLength { get; set; }

    public int MinReplicas { get; set; }
    public int MaxReplicas { get; set; } = 3;

    /// <summary>How often the queue is read.</summary>
    public int PollingIntervalSeconds { get; set; } = 2;

    /// <summary>How long a tier stays up after its queue last held anything, before it scales in.</summary>
    public int CooldownSeconds { get; set; } = 60;

    /// <summary>The longest a replica may take to load its model and become ready; a starting replica is never scaled away.</summary>
    public int StartupSeconds { get; set; } = 60;

    /// <summary>
    /// The replicas a tier should run. While the queue is active (deeper than the activation threshold) it is
    /// one replica per <see cref="TargetQueueLength"/> messages, at least one, never fewer than are running
    /// (scale-in waits for the cooldown, so a burst's tail does not flap replicas). Once idle for the cooldown
    /// it falls to <see cref="MinReplicas"/>. Replicas still starting are never scaled away.
    /// </summary>
    public int DesiredReplicas(int queueDepth, int currentReplicas, TimeSpan sinceLastActivity, int startingReplicas = 0)
    {
        int desired;
        if (queueDepth > ActivationQueueLength)
        {
            var forDepth = (int)Math.Ceiling(queueDepth / (double)TargetQueueLength);
            desired = Math.Max(Math.Max(forDepth, currentReplicas), Math.Max(1, MinReplicas));
        }
        else
        {
            desired = sinceLastActivity < TimeSpan.FromSeconds(CooldownSeconds) ? Math.Max(currentReplicas, MinReplicas) : MinReplicas;
        }
        return Math.Clamp(Math.Max(desired, startingReplicas), MinReplicas, MaxReplicas);
    }

    /// <summary>This policy with a tier's own values where it sets them (GPU tiers load for longer, for instance).</summary>
    public ScalingPolicy For(ScalingOverrides? tier) => tier is null ? this : new ScalingPolicy
    {
        TargetQueueLength = tier.TargetQueueLength ?? TargetQueueLength,
        ActivationQueueLength = tier.ActivationQueueLength ?? ActivationQueueLength,
        MinReplicas = tier.MinReplicas ?? MinReplicas,
        MaxReplicas = tier.MaxReplicas ?? MaxReplicas,
        PollingIntervalSeconds = tier.PollingIntervalSeconds ?? PollingIntervalSeconds,
        CooldownSeconds = tier.CooldownSeconds ?? CooldownSeconds,
        StartupSeconds = tier.StartupSeconds ?? StartupSeconds,
    };

    public IEnumerable<string> Validate()
    {
        if (TargetQueueLength < 1) yield return "Scaling:TargetQueueLength must be at least 1.";
        if (ActivationQueueLength < 0) yield return "Scaling:ActivationQueueLength cannot be negative.";
        if (MinReplicas < 0) yield return "Scaling:MinReplicas cannot be negative.";
        if (MaxReplicas < Math.Max(1, MinReplicas)) yield return "Scaling:MaxReplicas must be at least 1 and at least MinReplicas.";
        if (PollingIntervalSeconds < 1) yield return "Scaling:PollingIntervalSeconds must be at least 1.";
        if (StartupSeconds < 1) yield return "Scaling:StartupSeconds must be at least 1.";
        // A replica that scaled up for a request must outlive its own model load, or it would be stopped before serving.
        if (CooldownSeconds < StartupSeconds)
            yield return "Scaling:CooldownSeconds must be at least StartupSeconds, so a replica still loading its model is never scaled away.";
    }
}

/// <summary>A tier's departures from the shared policy ("Embedding:Tiers:N:Scaling"); unset values are inherited.</summary>
public sealed class ScalingOverrides
{
    public int? TargetQueueLength { get; set; }
    public int? ActivationQueueLength { get; set; }
    public int? MinReplicas { get; set; }
    public int? MaxReplicas { get; set; }
    public int? PollingIntervalSeconds { get; set; }
    public int? CooldownSeconds { get; set; }
    public int? StartupSeconds { get; set; }
}
