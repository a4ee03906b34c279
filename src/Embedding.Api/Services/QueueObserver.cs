using Embedding.Contracts;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace Embedding.Api.Services;

/// <summary>
/// Polls each tier's queue (a passive declare on a connection of its own) so the API can report queue depth and
/// consumers per tier, also while a tier is scaled to zero. A broker that is down only pauses the readings.
/// </summary>
public sealed class QueueObserver(IConfiguration configuration, IOptions<EmbeddingApiOptions> options, ApiMetrics metrics,
                                  ILogger<QueueObserver> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromSeconds(options.Value.QueueMetricsSeconds);
        if (interval <= TimeSpan.Zero) return;
        var amqp = configuration.GetConnectionString(MessagingExtensions.ConnectionName)!;
        IConnection? connection = null;
        using var timer = new PeriodicTimer(interval);
        try
        {
            do
            {
                try
                {
                    if (connection is not { IsOpen: true })
                    {
                        if (connection is not null) await connection.DisposeAsync();
                        connection = null;
                        connection = await QueueInspection.ConnectAsync(amqp, "embedding-api-queue-metrics", stoppingToken);
                    }
                    foreach (var model in options.Value.Models)
                    {
                        var state = await connection.PeekAsync(EmbeddingQueues.ForModel(model.Name), stoppingToken);
                        metrics.QueueObserved(model.Name, state?.Ready ?? 0, state?.Consumers ?? 0);  // no queue yet: nothing waits
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
        finally
        {
            if (connection is not null) await connection.DisposeAsync();
        }
    }
}
