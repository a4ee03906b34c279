namespace Embedding.AppHost.Scaling;

/// <summary>The replicas of one worker tier, however they run (Aspire resources locally, in-process hosts in tests).</summary>
public interface IWorkerReplicas
{
    /// <summary>Replicas running or starting, and of those how many are still starting.</summary>
    (int Current, int Starting) Count();

    Task StartOneAsync(CancellationToken ct);

    /// <summary>Stops one replica gracefully: it stops consuming and answers what it holds before it exits.</summary>
    Task StopOneAsync(CancellationToken ct);
}
