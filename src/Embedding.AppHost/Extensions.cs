using System.Net.Sockets;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Embedding.AppHost;

/// <summary>The "Embedding" section of the AppHost's configuration: which model the system serves and how.</summary>
public sealed class EmbeddingSettings
{
    /// <summary>null = use containers when an engine answers; true/false to force.</summary>
    public bool? UseContainers { get; set; }

    /// <summary>Model (tier) name clients send. The default tier runs the tiny TEST model (random weights).</summary>
    public string Model { get; set; } = "qwen3-embedding-tiny-test";
    public List<string> Aliases { get; set; } = [];
    public int Dimensions { get; set; } = 128;

    /// <summary>Local directory of the ONNX model, relative to the AppHost project or absolute.</summary>
    public string? OnnxModelPath { get; set; } = "../../models/qwen3-tiny";

    /// <summary>Download the model from this hub repository instead (e.g. an ONNX export of Qwen3-Embedding-0.6B).</summary>
    public string? HubRepository { get; set; }

    public int LocalRedisPort { get; set; } = 36379;
    public int LocalRabbitMqPort { get; set; } = 35672;
}

/// <summary>A server the AppHost runs as a local process, with the connection string its clients get.</summary>
public sealed class LocalServerResource(string name, string command, string workingDirectory, ReferenceExpression connectionString)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public ReferenceExpression ConnectionStringExpression { get; } = connectionString;
}

public static class AppHostExtensions
{
    /// <summary>Erases the concrete container type so both infrastructure choices read the same in AppHost.cs.</summary>
    public static IResourceBuilder<IResourceWithConnectionString> AsConnectionString<T>(this IResourceBuilder<T> builder)
        where T : IResourceWithConnectionString => (IResourceBuilder<IResourceWithConnectionString>)(object)builder;

    public static IResourceBuilder<IResourceWithConnectionString> AddLocalRedis(this IDistributedApplicationBuilder builder, string name, int port)
    {
        var data = DataDirectory(builder, name);
        var redis = new LocalServerResource(name, "redis-server", data,
            ReferenceExpression.Create($"127.0.0.1:{port.ToString()}"));
        return builder.AddResource(redis)
            .WithArgs("--bind", "127.0.0.1", "--port", port.ToString(), "--save", "", "--appendonly", "no")
            .WithTcpHealthCheck(builder, port)
            .AsConnectionString();
    }

    public static IResourceBuilder<IResourceWithConnectionString> AddLocalRabbitMQ(this IDistributedApplicationBuilder builder, string name, int port)
    {
        var data = DataDirectory(builder, name);
        File.WriteAllText(Path.Combine(data, "enabled_plugins"), "[rabbitmq_management].");
        File.WriteAllText(Path.Combine(data, "rabbitmq.conf"),
            $"listeners.tcp.1 = 127.0.0.1:{port}\nmanagement.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {port + 1}\nloopback_users = none\n");
        var rabbit = new LocalServerResource(name, "/usr/lib/rabbitmq/bin/rabbitmq-server", data,
            ReferenceExpression.Create($"amqp://guest:guest@127.0.0.1:{port.ToString()}/"));
        return builder.AddResource(rabbit)
            .WithEnvironment("RABBITMQ_NODENAME", "embedding-" + port + "@localhost")
            .WithEnvironment("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .WithEnvironment("RABBITMQ_DIST_PORT", (port + 2).ToString())
            .WithEnvironment("ERL_EPMD_ADDRESS", "127.0.0.1")
            .WithEnvironment("RABBITMQ_MNESIA_BASE", Path.Combine(data, "mnesia"))
            .WithEnvironment("RABBITMQ_LOG_BASE", Path.Combine(data, "log"))
            .WithEnvironment("RABBITMQ_ENABLED_PLUGINS_FILE", Path.Combine(data, "enabled_plugins"))
            .WithEnvironment("RABBITMQ_CONFIG_FILE", Path.Combine(data, "rabbitmq"))
            .WithEnvironment("HOME", data)
            .WithHttpEndpoint(port: port + 1, targetPort: port + 1, name: "management", isProxied: false)
            .WithTcpHealthCheck(builder, port)
            .AsConnectionString();
    }

    public static IResourceBuilder<ProjectResource> WithWorkerModel(this IResourceBuilder<ProjectResource> worker, EmbeddingSettings embedding)
    {
        worker.WithEnvironment("Worker__Model", embedding.Model).WithEnvironment("Worker__Backend", "Onnx");
        if (!string.IsNullOrWhiteSpace(embedding.HubRepository))
            return worker.WithEnvironment("Worker__Onnx__HubRepository", embedding.HubRepository);
        var builder = worker.ApplicationBuilder;
        if (builder.ExecutionContext.IsPublishMode)
        {
            // Deployed, the model is a mounted volume, not a path on this machine.
            var mounted = builder.AddParameter("worker-model-path", "/models/qwen3-embedding", publishValueAsDefault: true);
            return worker.WithEnvironment("Worker__Onnx__ModelPath", mounted);
        }
        return worker.WithEnvironment("Worker__Onnx__ModelPath", Path.GetFullPath(embedding.OnnxModelPath ?? "", builder.AppHostDirectory));
    }

    public static IResourceBuilder<ProjectResource> WithApiModels(this IResourceBuilder<ProjectResource> api, EmbeddingSettings embedding)
    {
        api.WithEnvironment("Api__Models__0__Name", embedding.Model)
           .WithEnvironment("Api__Models__0__Dimensions", embedding.Dimensions.ToString());
        for (var i = 0; i < embedding.Aliases.Count; i++) api.WithEnvironment($"Api__Models__0__Aliases__{i}", embedding.Aliases[i]);
        return api;
    }

    private static IResourceBuilder<T> WithTcpHealthCheck<T>(this IResourceBuilder<T> resource, IDistributedApplicationBuilder builder, int port)
        where T : IResource
    {
        var key = $"{resource.Resource.Name}-tcp";
        builder.Services.AddHealthChecks().AddAsyncCheck(key, async ct =>
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port, ct);
                return HealthCheckResult.Healthy();
            }
            catch (SocketException ex)
            {
                return HealthCheckResult.Unhealthy($"127.0.0.1:{port} does not accept connections yet", ex);
            }
        });
        return resource.WithHealthCheck(key);
    }

    private static string DataDirectory(IDistributedApplicationBuilder builder, string name)
    {
        var directory = Path.Combine(builder.AppHostDirectory, "..", "..", ".data", name);
        Directory.CreateDirectory(directory);
        return Path.GetFullPath(directory);
    }
}

/// <summary>Whether a container engine (Docker or Podman) is reachable, not merely its client installed.</summary>
public static class ContainerEngine
{
    public static bool IsAvailable()
    {
        if (Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 }) return true;
        string[] sockets = ["/var/run/docker.sock", "/run/podman/podman.sock",
            $"/run/user/{Environment.GetEnvironmentVariable("UID") ?? "0"}/podman/podman.sock"];
        return sockets.Any(File.Exists) || OperatingSystem.IsWindows() || OperatingSystem.IsMacOS();
    }
}
