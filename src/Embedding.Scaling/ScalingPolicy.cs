namespace Embedding.Scaling;

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

    /// <summary>
    /// Messages per second one replica handles, for a second trigger on the rate messages are published at (KEDA rabbitmq
    /// <c>mode: MessageRate</c>); 0 = queue depth only. A GPU drains its queue in milliseconds, so sampled depth often reads 0
    /// while traffic flows; the publish rate does not, and keeps a busy tier up (and, with an activation rate, a trickle down).
    /// </summary>
    public double TargetMessageRate { get; set; }

    /// <summary>The publish rate must exceed this (messages/s) for the rate trigger to wake or hold the tier.</summary>
    public double ActivationMessageRate { get; set; }

    public int MinReplicas { get; set; }
    public int MaxReplicas { get; set; } = 3;

    /// <summary>How often the queue is read.</summary>
    public int PollingIntervalSeconds { get; set; } = 2;

    /// <summary>How long a tier's last replica stays up after its queue last needed it, before the tier scales to zero (KEDA's <c>cooldownPeriod</c>).</summary>
    public int CooldownSeconds { get; set; } = 60;

    /// <summary>
    /// How long a replica beyond the first stays up after the queue last needed it (the HPA's scale-down stabilisation
    /// window); null = <see cref="CooldownSeconds"/>. Extra replicas carry peaks and bursts only, so they can leave sooner
    /// than the last one, whose leaving means a cold start for the next request.
    /// </summary>
    public int? ScaleInSeconds { get; set; }

    public int ScaleInWindowSeconds => ScaleInSeconds ?? CooldownSeconds;

    /// <summary>The longest a replica may take to load its model and become ready; a starting replica is never scaled away.</summary>
    public int StartupSeconds { get; set; } = 60;

    /// <summary>
    /// Replicas the queue asks for right now: one per <see cref="TargetQueueLength"/> messages once the depth is active, and
    /// with a rate trigger one per <see cref="TargetMessageRate"/> messages/s once the rate is active; the larger (KEDA's
    /// rule for several triggers). Else none.
    /// </summary>
    public int NeededFor(int queueDepth, double messageRate = 0)
    {
        // One trigger: none while at or below its activation, else one replica per target, at least one.
        static int Trigger(double value, double activation, double target) =>
            value > activation ? Math.Max(1, (int)Math.Ceiling(value / target)) : 0;
        return Math.Max(Trigger(queueDepth, ActivationQueueLength, TargetQueueLength),
                        TargetMessageRate > 0 ? Trigger(messageRate, ActivationMessageRate, TargetMessageRate) : 0);
    }

    /// <summary>
    /// The replicas a tier should run. Up at once to what the queue needs (<see cref="NeededFor"/>); down only to the most
    /// replicas the queue needed within their window (<paramref name="sinceNeeded"/>(k): time since k replicas were last
    /// needed): the cooldown for the last replica, <see cref="ScaleInWindowSeconds"/> for the others, as KEDA's cooldown
    /// and the HPA's scale-down window do, so a burst's tail does not flap replicas. No more replicas are added while some
    /// are still starting (the queue a cold start builds is theirs to drain). Never below <see cref="MinReplicas"/>, never
    /// above <see cref="MaxReplicas"/>, and replicas still starting (loading their model) are never scaled away.
    /// </summary>
    public int DesiredReplicas(int queueDepth, int currentReplicas, Func<int, TimeSpan> sinceNeeded, int startingReplicas = 0, double messageRate = 0)
    {
        var needed = NeededFor(queueDepth, messageRate);
        var held = Enumerable.Range(1, Math.Max(0, currentReplicas))
            .LastOrDefault(k => sinceNeeded(k) < TimeSpan.FromSeconds(k == 1 ? CooldownSeconds : ScaleInWindowSeconds));
        var desired = Math.Max(needed, held);
        // While replicas load their model the queue grows by itself; wait for them before adding more (from zero, start one).
        if (startingReplicas > 0 && desired > currentReplicas) desired = currentReplicas;
        return Math.Clamp(Math.Max(desired, startingReplicas), MinReplicas, MaxReplicas);
    }

    /// <summary><see cref="DesiredReplicas(int, int, Func{int, TimeSpan}, int, double)"/> where every count up to the current one was last needed at the same time.</summary>
    public int DesiredReplicas(int queueDepth, int currentReplicas, TimeSpan sinceCurrentWasNeeded, int startingReplicas = 0, double messageRate = 0) =>
        DesiredReplicas(queueDepth, currentReplicas, _ => sinceCurrentWasNeeded, startingReplicas, messageRate);

    /// <summary>
    /// One autoscaler poll: records what the queue needs now, decides, and counts replicas asked for as needed (the
    /// cooldown runs from when they were asked for). Used by the local autoscaler and the cost simulator alike.
    /// </summary>
    public int Decide(int queueDepth, int currentReplicas, int startingReplicas, ReplicaNeeds needs, double nowSeconds, double messageRate = 0)
    {
        needs.Observe(NeededFor(queueDepth, messageRate), nowSeconds);
        var desired = DesiredReplicas(queueDepth, currentReplicas, k => needs.SinceNeeded(k, nowSeconds), startingReplicas, messageRate);
        if (desired > currentReplicas) needs.Observe(desired, nowSeconds);
        return desired;
    }

    /// <summary>This policy with a tier's own values where it sets them (GPU tiers load for longer, for instance).</summary>
    public ScalingPolicy For(ScalingOverrides? tier) => tier is null ? this : new ScalingPolicy
    {
        TargetQueueLength = tier.TargetQueueLength ?? TargetQueueLength,
        ActivationQueueLength = tier.ActivationQueueLength ?? ActivationQueueLength,
        TargetMessageRate = tier.TargetMessageRate ?? TargetMessageRate,
        ActivationMessageRate = tier.ActivationMessageRate ?? ActivationMessageRate,
        MinReplicas = tier.MinReplicas ?? MinReplicas,
        MaxReplicas = tier.MaxReplicas ?? MaxReplicas,
        PollingIntervalSeconds = tier.PollingIntervalSeconds ?? PollingIntervalSeconds,
        CooldownSeconds = tier.CooldownSeconds ?? CooldownSeconds,
        ScaleInSeconds = tier.ScaleInSeconds ?? ScaleInSeconds,
        StartupSeconds = tier.StartupSeconds ?? StartupSeconds,
    };

    public IEnumerable<string> Validate()
    {
        if (TargetQueueLength < 1) yield return "Scaling:TargetQueueLength must be at least 1.";
        if (ActivationQueueLength < 0) yield return "Scaling:ActivationQueueLength cannot be negative.";
        if (TargetMessageRate < 0 || ActivationMessageRate < 0) yield return "Scaling:TargetMessageRate and ActivationMessageRate cannot be negative.";
        if (MinReplicas < 0) yield return "Scaling:MinReplicas cannot be negative.";
        if (MaxReplicas < Math.Max(1, MinReplicas)) yield return "Scaling:MaxReplicas must be at least 1 and at least MinReplicas.";
        if (PollingIntervalSeconds < 1) yield return "Scaling:PollingIntervalSeconds must be at least 1.";
        if (StartupSeconds < 1) yield return "Scaling:StartupSeconds must be at least 1.";
        if (ScaleInSeconds < 0) yield return "Scaling:ScaleInSeconds cannot be negative.";
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
    public double? TargetMessageRate { get; set; }
    public double? ActivationMessageRate { get; set; }
    public int? MinReplicas { get; set; }
    public int? MaxReplicas { get; set; }
    public int? PollingIntervalSeconds { get; set; }
    public int? CooldownSeconds { get; set; }
    public int? ScaleInSeconds { get; set; }
    public int? StartupSeconds { get; set; }
}

/// <summary>When the queue last needed each replica count: the memory behind <see cref="ScalingPolicy.DesiredReplicas"/>'s scale-in rule.</summary>
public sealed class ReplicaNeeds
{
    private readonly Dictionary<int, double> _lastNeededAt = [];

    public void Observe(int replicas, double nowSeconds)
    {
        for (var k = 1; k <= replicas; k++) _lastNeededAt[k] = nowSeconds;
    }

    public TimeSpan SinceNeeded(int replicas, double nowSeconds) =>
        replicas > 0 && _lastNeededAt.TryGetValue(replicas, out var at) ? TimeSpan.FromSeconds(nowSeconds - at) : TimeSpan.MaxValue;
}
