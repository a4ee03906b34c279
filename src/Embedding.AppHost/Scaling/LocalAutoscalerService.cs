using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Embedding.AppHost.Scaling;

/// <summary>Runs one <see cref="QueueAutoscaler"/> per queue-scaled worker while the AppHost runs.</summary>
public sealed class LocalAutoscalerService(DistributedApplicationModel model, ResourceNotificationService notifications,
                                           ResourceCommandService commands, ILoggerFactory loggers) : BackgroundService
{
    private readonly ILogger _logger = loggers.CreateLogger("Embedding.AppHost.Autoscaler");

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(model.Resources.OfType<ProjectResource>()
            .Select(r => (Worker: r, Scaling: r.Annotations.OfType<QueueScalingAnnotation>().SingleOrDefault()))
            .Where(w => w.Scaling is not null)
            .Select(w => RunAsync(w.Worker, w.Scaling!, stoppingToken)));

    private async Task RunAsync(ProjectResource worker, QueueScalingAnnotation scaling, CancellationToken ct)
    {
        try
        {
            await notifications.WaitForResourceHealthyAsync(scaling.Broker.Name, ct);
            var amqp = scaling.Broker is IResourceWithConnectionString b ? await b.ConnectionStringExpression.GetValueAsync(ct) : null;
            await using var probe = new QueueDepthProbe(new Uri((await scaling.ManagementUri.GetValueAsync(ct))!), amqp);
            var replicas = new AspireWorkerReplicas(worker, commands);
            _ = replicas.WatchAsync(notifications, ct);
            _logger.LogInformation("Scaling {Worker} from queue {Queue}: {Min}..{Max} replicas, {Target} messages per replica, cooldown {Cooldown} s",
                worker.Name, scaling.Queue, scaling.Policy.MinReplicas, scaling.Policy.MaxReplicas, scaling.Policy.TargetQueueLength, scaling.Policy.CooldownSeconds);
            await new QueueAutoscaler(scaling.Queue, scaling.Policy, probe.GetLoadAsync, replicas, _logger).RunAsync(ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }
}
