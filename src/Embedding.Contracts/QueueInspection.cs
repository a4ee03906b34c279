using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Embedding.Contracts;

/// <summary>What the broker says about a queue right now: ready messages and consumers.</summary>
public readonly record struct QueueState(uint Ready, uint Consumers);

/// <summary>
/// Asks RabbitMQ about queues with a passive declare: answered at once (the management API's statistics are sampled
/// every few seconds), and it never creates a queue. Holds a connection of its own, named so it can be told apart in
/// the management UI, and reconnects on the next call after the broker went away. Used by the AppHost's autoscaler
/// and the API's queue metrics.
/// </summary>
public sealed class QueueInspector(string amqpUri, string clientName) : IAsyncDisposable
{
    private IConnection? _connection;

    /// <summary>The queue's state, or null where it does not exist (nothing was ever sent to it and no worker declared it).</summary>
    public async Task<QueueState?> PeekAsync(string queue, CancellationToken ct)
    {
        if (_connection is not { IsOpen: true })
        {
            if (_connection is not null) await _connection.DisposeAsync();
            _connection = null;
            _connection = await new ConnectionFactory { Uri = new Uri(amqpUri), ClientProvidedName = clientName }.CreateConnectionAsync(ct);
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        await using var channel = await _connection.CreateChannelAsync(cancellationToken: timeout.Token);
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

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null) await _connection.DisposeAsync();
    }
}
