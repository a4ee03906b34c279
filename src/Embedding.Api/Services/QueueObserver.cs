using Embedding.Contracts;
using Microsoft.Extensions.Options;

namespace Embedding.Api.Services;

/// <summary>
/// Polls each tier's queue (a passive declare on the API's own broker connection) so the API can report queue depth and
/// consumers per tier, also while a tier is scaled to zero. A broker that is down only pauses the readings.
/// </summary>
public sealed class QueueObserver(QueueInspector broker, IOptions<EmbeddingApiOptions> options, ApiMetrics metrics,
                                  ILogger<QueueObserver> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromSeconds(options.Value.QueueMetricsSeconds);
        if (interval <= TimeSpan.Zero) return;
        using var timer = new PeriodicTimer(interval);
        try
        {
            do
            {
                try
                {
                    foreach (var model in options.Value.Models)
                    {
                        var state = await broker.PeekAsync(EmbeddingQueues.ForModel(model.Name), stoppingToken);
                        metrics.QueueObserved(model.Name, state ?? default);  // no queue yet: nothing waits, nobody consumes
                    }
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    logger.LogDebug(ex, "Could not read queue depths; retrying in {Interval}", interval);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }
}
