using Microsoft.Extensions.Logging;
using Embedding.Scaling;

namespace Embedding.AppHost.Scaling;

/// <summary>
/// The local emulation of KEDA for one tier: every polling interval it reads the queue's depth and publish rate, asks
/// the policy for the desired replica count and starts or stops replicas to match.
/// </summary>
public sealed class QueueAutoscaler(string queue, ScalingPolicy policy, Func<string, CancellationToken, Task<QueueLoad>> queueLoad,
                                    IWorkerReplicas replicas, ILogger logger, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ReplicaNeeds _needs = new();

    public async Task RunAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(policy.PollingIntervalSeconds), _time);
        do
        {
            try
            {
                await StepAsync(ct);
            }
            catch (Exception ex) when (!ct.IsCancellationRequested)
            {
                // The broker restarting or a replica command failing is retried on the next tick.
                logger.LogWarning(ex, "Autoscaler for {Queue} skipped a tick", queue);
            }
        }
        while (await timer.WaitForNextTickAsync(ct));
    }

    /// <summary>One decision: read, decide, act. Returns the desired replica count.</summary>
    public async Task<int> StepAsync(CancellationToken ct)
    {
        var (depth, rate) = await queueLoad(queue, ct);
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0;
        var (current, starting) = replicas.Count();
        var desired = policy.Decide(depth, current, starting, _needs, now, rate);
        logger.LogDebug("{Queue}: depth {Depth}, {Rate:F1} msg/s, replicas {Current} ({Starting} starting), desired {Desired}", queue, depth, rate, current, starting, desired);
        if (desired == current) return desired;

        logger.LogInformation("Scaling {Queue}: depth {Depth}, {Rate:F1} msg/s, replicas {Current} -> {Desired}", queue, depth, rate, current, desired);
        for (var i = current; i < desired; i++) await replicas.StartOneAsync(ct);
        for (var i = desired; i < current; i++) await replicas.StopOneAsync(ct);
        return desired;
    }
}
