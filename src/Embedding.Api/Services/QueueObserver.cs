using System.Collections.Concurrent;
using Embedding.Contracts;
using Microsoft.Extensions.Options;
using Embedding.Messaging;

namespace Embedding.Api.Services;

/// <summary>
/// Polls each tier's queue (a passive declare on the API's own broker connection) and keeps the latest reading per tier:
/// what the batch runner schedules by (how many workers consume), and what <see cref="ApiMetrics"/> reports as queue
/// depth and consumers, also while a tier is scaled to zero. A broker that is down only pauses the readings.
/// </summary>
public sealed class QueueObserver(QueueInspector broker, IOptions<EmbeddingApiOptions> options, ILogger<QueueObserver> logger)
    : BackgroundService
{
    private readonly ConcurrentDictionary<string, QueueState> _latest = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The tier's queue at the last reading; null before the first.</summary>
    public QueueState? Latest(string model) => _latest.TryGetValue(model, out var state) ? state : null;

    /// <summary>Workers consuming the tier's queue at the last reading (0 if none yet).</summary>
    public int ConsumersOf(string model) => (int)(Latest(model)?.Consumers ?? 0);

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
                        _latest[model.Name] = state ?? default;  // no queue yet: nothing waits, nobody consumes
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
