using Aspire.Hosting.ApplicationModel;
using Embedding.Scaling;

namespace Embedding.AppHost.Scaling;

/// <summary>
/// Marks a worker resource as scaled by its queue. Under <c>dotnet run</c> the local autoscaler acts on it;
/// the Kubernetes publisher turns it into a KEDA ScaledObject. The management URL (with credentials) is an
/// expression over the broker's endpoint and parameters, resolved where it is used.
/// </summary>
public sealed record QueueScalingAnnotation(string Queue, ScalingPolicy Policy, IResource Broker,
                                            ReferenceExpression ManagementUri) : IResourceAnnotation;
