using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Embedding.Messaging;

/// <summary>MassTransit over RabbitMQ, configured the same way by the API and the workers.</summary>
public static class MessagingExtensions
{
    /// <summary>Name of the connection string the AppHost injects (ConnectionStrings__messaging).</summary>
    public const string ConnectionName = "messaging";

    /// <param name="waitUntilStarted">
    /// Workers: true, so that "started" means "consuming" (and a worker never looks ready without its queue).
    /// The API: false, so it starts and serves cache hits while RabbitMQ is unreachable; queued requests get 503.
    /// </param>
    /// <param name="publisherConfirms">
    /// Whether a send waits for the broker's confirmation (a round trip on every message). The API: yes, so a request the
    /// broker did not take fails at once (503) instead of at its timeout. Workers: no; they only send answers, an answer
    /// lost with a crashing broker surfaces as the caller's timeout (a retryable 503), and the wait sat in every
    /// request's path (1 client: p50 12.4 -> 8.2 ms with both off, bench/results/load-2026-12-01-onnx.md).
    /// </param>
    public static IHostApplicationBuilder AddEmbeddingMessaging(
        this IHostApplicationBuilder builder,
        bool waitUntilStarted,
        bool publisherConfirms,
        Action<IBusRegistrationConfigurator>? registrations = null,
        Action<IBusRegistrationContext, IRabbitMqBusFactoryConfigurator>? endpoints = null)
    {
        var connectionString = builder.Configuration.GetConnectionString(ConnectionName)
            ?? throw new InvalidOperationException(
                $"ConnectionStrings:{ConnectionName} is not set (an amqp:// URI to RabbitMQ); the AppHost sets it.");
        var uri = new Uri(connectionString);

        // On shutdown, messages in hand get time to be answered before the process exits.
        builder.Services.Configure<MassTransitHostOptions>(o =>
        {
            o.WaitUntilStarted = waitUntilStarted;
            o.StopTimeout = TimeSpan.FromSeconds(30);
        });
        builder.Services.AddMassTransit(x =>
        {
            registrations?.Invoke(x);
            x.UsingRabbitMq((context, cfg) =>
            {
                var (user, password) = ParseUserInfo(uri);
                var vhost = uri.AbsolutePath.Trim('/') is { Length: > 0 } v ? Uri.UnescapeDataString(v) : "/";
                cfg.Host(uri.Host, (ushort)(uri.IsDefaultPort ? 5672 : uri.Port), vhost, h =>
                {
                    h.Username(user);
                    h.Password(password);
                    h.Heartbeat(TimeSpan.FromSeconds(10));
                    h.PublisherConfirmation = publisherConfirms;
                });
                endpoints?.Invoke(context, cfg);
                cfg.ConfigureEndpoints(context);
            });
        });
        return builder;
    }

    private static (string User, string Password) ParseUserInfo(Uri uri)
    {
        if (string.IsNullOrEmpty(uri.UserInfo)) return ("guest", "guest");
        var parts = uri.UserInfo.Split(':', 2);
        return (Uri.UnescapeDataString(parts[0]), parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "");
    }
}
