using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Embedding.Contracts;

/// <summary>What the broker says about a queue right now: ready messages and consumers.</summary>
public readonly record struct QueueState(uint Ready, uint Consumers);

/// <summary>
/// Asks RabbitMQ about a queue with a passive declare: answered at once (the management API's statistics are
/// sampled every few seconds), and it never creates the queue. Used by the AppHost's autoscaler and the API's
/// queue metrics.
/// </summary>
public static class QueueInspection
{
    /// <summary>The queue's state, or null where it does not exist (nothing was ever sent to it and no worker declared it).</summary>
    public static async Task<QueueState?> PeekAsync(this IConnection connection, string queue, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        await using var channel = await connection.CreateChannelAsync(cancellationToken: timeout.Token);
        try
        {
            var ok = await channel.QueueDeclarePassiveAsync(queue, timeout.Token);
            return new QueueState(ok.MessageCount, ok.ConsumerCount);
        }
        catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 404)
        {
            return null;
        }
    }

    /// <summary>A connection of its own for inspection, named so it can be told apart in the management UI.</summary>
    public static Task<IConnection> ConnectAsync(string amqpUri, string clientName, CancellationToken ct) =>
        new ConnectionFactory { Uri = new Uri(amqpUri), ClientProvidedName = clientName }.CreateConnectionAsync(ct);
}
