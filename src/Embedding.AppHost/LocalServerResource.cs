using Aspire.Hosting.ApplicationModel;

namespace Embedding.AppHost;

/// <summary>A server the AppHost runs as a local process, with the connection string its clients get.</summary>
public sealed class LocalServerResource(string name, string command, string workingDirectory, ReferenceExpression connectionString)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public ReferenceExpression ConnectionStringExpression { get; } = connectionString;
}
