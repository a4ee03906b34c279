using System.Collections.Concurrent;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Embedding.AppHost.Scaling;

/// <summary>
/// A worker tier's replicas as Aspire sees them: the project resource is declared with
/// <c>WithReplicas(MaxReplicas)</c> and <c>WithExplicitStart()</c>, so every replica starts "Not started";
/// scaling runs the dashboard's own start and stop commands on single replicas. Stopping a replica sends it
/// SIGTERM: the worker stops consuming, answers what it holds, then exits.
/// </summary>
public sealed class AspireWorkerReplicas(IResource worker, ResourceCommandService commands) : IWorkerReplicas
{
    private readonly ConcurrentDictionary<string, CustomResourceSnapshot> _replicas = new();

    /// <summary>Follows the replicas' states (each replica is its own resource id) until cancelled.</summary>
    public async Task WatchAsync(ResourceNotificationService notifications, CancellationToken ct)
    {
        await foreach (var e in notifications.WatchAsync(ct))
            if (ReferenceEquals(e.Resource, worker)) _replicas[e.ResourceId] = e.Snapshot;
    }

    private static readonly HashSet<string> Up = [KnownResourceStates.Starting, KnownResourceStates.Running, KnownResourceStates.Waiting];

    public (int Current, int Starting) Count()
    {
        var states = States().ToList();
        return (states.Count(s => s.Up), states.Count(s => s.Starting));
    }

    public Task StartOneAsync(CancellationToken ct) =>
        RunAsync(States().FirstOrDefault(s => !s.Up && s.State != KnownResourceStates.Stopping).Id, KnownResourceCommands.StartCommand, ct);

    public Task StopOneAsync(CancellationToken ct) =>
        // Ready replicas go before one still loading its model (the policy never asks for fewer replicas than are
        // starting, so a ready one is there; a short scale-in window could otherwise pick the loading one), and the most
        // recently started first: an older one is more likely to be warm.
        RunAsync(States().Where(s => s.Up).OrderBy(s => s.Starting).ThenByDescending(s => s.StartedAt).FirstOrDefault().Id, KnownResourceCommands.StopCommand, ct);

    private async Task RunAsync(string? id, string command, CancellationToken ct)
    {
        if (id is null) return;
        var result = await commands.ExecuteCommandAsync(id, command, ct);
        if (!result.Success) throw new InvalidOperationException($"{command} on {id} failed: {result.Message}");
    }

    private IEnumerable<(string Id, string? State, bool Up, bool Starting, DateTime? StartedAt)> States()
    {
        foreach (var (id, snapshot) in _replicas.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            var state = snapshot.State?.Text;
            var up = state is not null && Up.Contains(state);
            // Running but not yet healthy is still loading its model (the worker serves /health only once ready).
            var starting = up && (state != KnownResourceStates.Running || snapshot.HealthStatus != HealthStatus.Healthy);
            yield return (id, state, up, starting, snapshot.StartTimeStamp);
        }
    }
}
