using System.Net.Sockets;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Embedding.AppHost;

/// <summary>Redis, RabbitMQ and PostgreSQL: Aspire's container resources, or the Debian packages' servers as local processes.</summary>
public static class InfrastructureExtensions
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

    /// <summary>RabbitMQ as Aspire's container resource, with the management API the autoscaler reads.</summary>
    public static (IResourceBuilder<IResourceWithConnectionString>, ReferenceExpression) AddRabbitMQBroker(this IDistributedApplicationBuilder builder, string name)
    {
        var rabbit = builder.AddRabbitMQ(name).WithManagementPlugin();
        var server = rabbit.Resource;
        return (rabbit.AsConnectionString(), ReferenceExpression.Create(
            $"http://{server.UserNameReference}:{server.PasswordParameter}@{server.ManagementEndpoint.Property(EndpointProperty.HostAndPort)}/"));
    }

    /// <summary>RabbitMQ from the Debian package as a local process: AMQP on port, management on port + 1.</summary>
    public static (IResourceBuilder<IResourceWithConnectionString>, ReferenceExpression) AddLocalRabbitMQ(this IDistributedApplicationBuilder builder, string name, int port)
    {
        var data = DataDirectory(builder, name);
        File.WriteAllText(Path.Combine(data, "enabled_plugins"), "[rabbitmq_management].");
        File.WriteAllText(Path.Combine(data, "rabbitmq.conf"),
            $"listeners.tcp.1 = 127.0.0.1:{port}\nmanagement.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {port + 1}\nloopback_users = none\n" +
            // Queue depths refresh every second (default 5 s): the autoscaler reacts to them.
            "collect_statistics_interval = 1000\n");
        var rabbit = new LocalServerResource(name, "/usr/lib/rabbitmq/bin/rabbitmq-server", data,
            ReferenceExpression.Create($"amqp://guest:guest@127.0.0.1:{port.ToString()}/"));
        var resource = builder.AddResource(rabbit)
            .WithEnvironment("RABBITMQ_NODENAME", "embedding-" + port + "@localhost")
            .WithEnvironment("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .WithEnvironment("RABBITMQ_DIST_PORT", (port + 2).ToString())
            .WithEnvironment("ERL_EPMD_ADDRESS", "127.0.0.1")
            .WithEnvironment("RABBITMQ_MNESIA_BASE", Path.Combine(data, "mnesia"))
            .WithEnvironment("RABBITMQ_LOG_BASE", Path.Combine(data, "log"))
            .WithEnvironment("RABBITMQ_ENABLED_PLUGINS_FILE", Path.Combine(data, "enabled_plugins"))
            .WithEnvironment("RABBITMQ_CONFIG_FILE", Path.Combine(data, "rabbitmq"))
            .WithEnvironment("HOME", data)
            // Erlang's schedulers spin while idle by default: on a small machine shared with the workers that spin takes
            // the cores ONNX Runtime needs (bench/results/load-2026-12-07-onnx-0.6b.md).
            .WithEnvironment("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "+sbwt none +sbwtdcpu none +sbwtdio none")
            .WithHttpEndpoint(port: port + 1, targetPort: port + 1, name: "management", isProxied: false)
            .WithTcpHealthCheck(builder, port)
            .AsConnectionString();
        return (resource, ReferenceExpression.Create($"http://guest:guest@127.0.0.1:{(port + 1).ToString()}/"));
    }

    /// <summary>
    /// PostgreSQL for the batch store, as Aspire's container resource. The API connects to the server's own
    /// <c>postgres</c> database (always there, also where no AppHost creates one: a published manifest) and makes its
    /// tables itself. Its data on a volume (a PersistentVolumeClaim when published): jobs outlive the pod.
    /// </summary>
    public static IResourceBuilder<IResourceWithConnectionString> AddPostgresServer(this IDistributedApplicationBuilder builder, string name) =>
        builder.AddPostgres(name).WithDataVolume($"{name}-data").AsConnectionString();

    /// <summary>PostgreSQL from the Debian package as a local process (scripts/local-postgres.sh), its cluster under .data/.</summary>
    public static IResourceBuilder<IResourceWithConnectionString> AddLocalPostgres(this IDistributedApplicationBuilder builder, string name, int port)
    {
        var data = DataDirectory(builder, name);
        var script = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, "..", "..", "scripts", "local-postgres.sh"));
        var postgres = new LocalServerResource(name, "bash", data,
            ReferenceExpression.Create($"Host=127.0.0.1;Port={port.ToString()};Username=postgres;Database=postgres"));
        return builder.AddResource(postgres)
            .WithArgs(script, data, port.ToString())
            .WithTcpHealthCheck(builder, port)
            .AsConnectionString();
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

    /// <summary>A directory of its own under the repository's .data/, for a local server or the API's batch jobs.</summary>
    internal static string DataDirectory(IDistributedApplicationBuilder builder, string name)
    {
        var directory = Path.Combine(builder.AppHostDirectory, "..", "..", ".data", name);
        Directory.CreateDirectory(directory);
        return Path.GetFullPath(directory);
    }
}
