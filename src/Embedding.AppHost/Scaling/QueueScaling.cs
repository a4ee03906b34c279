using Embedding.Contracts;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Embedding.Scaling;

namespace Embedding.AppHost.Scaling;

/// <summary>
/// Marks a worker resource as scaled by its queue. Under <c>dotnet run</c> the local autoscaler acts on it;
/// the Kubernetes publisher turns it into a KEDA ScaledObject. The management URL (with credentials) is an
/// expression over the broker's endpoint and parameters, resolved where it is used.
/// </summary>
public sealed record QueueScalingAnnotation(string Queue, ScalingPolicy Policy, IResource Broker,
                                            ReferenceExpression ManagementUri) : IResourceAnnotation;

public static class QueueScalingExtensions
{
    /// <summary>
    /// Scales this worker from its queue's depth: locally its replicas start "Not started" and the
    /// autoscaler starts and stops them; published, the annotation becomes the platform's scale rule.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithQueueScaling(this IResourceBuilder<ProjectResource> worker, string queue,
        ScalingPolicy policy, IResourceBuilder<IResourceWithConnectionString> broker, ReferenceExpression managementUri)
    {
        var errors = policy.Validate().ToList();
        if (errors.Count > 0) throw new InvalidOperationException("Invalid Embedding:Scaling: " + string.Join(" ", errors));

        worker.WithAnnotation(new QueueScalingAnnotation(queue, policy, broker.Resource, managementUri));
        var builder = worker.ApplicationBuilder;
        if (builder.ExecutionContext.IsRunMode)
        {
            worker.WithReplicas(policy.MaxReplicas).WithExplicitStart();
            if (!builder.Services.Any(s => s.ImplementationType == typeof(LocalAutoscalerService)))
                builder.Services.AddHostedService<LocalAutoscalerService>();
        }
        return worker;
    }
}

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
