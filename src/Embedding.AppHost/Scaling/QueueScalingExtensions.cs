using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Embedding.Scaling;

namespace Embedding.AppHost.Scaling;

/// <summary>Declares a worker as scaled by its queue, here (the local autoscaler) and when published (the annotation).</summary>
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
