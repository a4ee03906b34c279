using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Embedding.Contracts;

namespace Embedding.Messaging;

/// <summary>What the broker says about a queue right now: ready messages and consumers.</summary>
public readonly record struct QueueState(uint Ready, uint Consumers);

/// <summary>
/// Asks RabbitMQ about queues with a passive declare: answered at once (the management API's statistics are sampled
/// every few seconds), and it never creates a queue. Holds a connection of its own, named so it can be told apart in
/// the management UI, and reconnects on the next call after the broker went away. Used by the AppHost's autoscaler
/// and the API (queue metrics, and declaring a tier's queue before its first request).
/// </summary>
public sealed class QueueInspector(string amqpUri, string clientName) : IAsyncDisposable
{
    private readonly SemaphoreSlim _connecting = new(1, 1);
    private IConnection? _connection;

    /// <summary>The queue's state, or null where it does not exist (nothing was ever sent to it and no worker declared it).</summary>
    public async Task<QueueState?> PeekAsync(string queue, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        await using var channel = await (await ConnectAsync(timeout.Token)).CreateChannelAsync(cancellationToken: timeout.Token);
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

    /// <summary>
    /// Declares a tier's queue as the workers' receive endpoint does (a fanout exchange of the same name bound to a durable
    /// priority queue), so requests sent before any worker ever started wait there instead of being dropped.
    /// A queue left by an older version without the priority argument is replaced when it is empty and unused; otherwise
    /// the error says what to do.
    /// </summary>
    public async Task DeclareAsync(string queue, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        var connection = await ConnectAsync(timeout.Token);
        try
        {
            await DeclareOnAsync(connection, queue, timeout.Token);
        }
        catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 406)
        {
            await using var channel = await connection.CreateChannelAsync(cancellationToken: timeout.Token);
            var old = await channel.QueueDeclarePassiveAsync(queue, timeout.Token);
            if (old.MessageCount > 0 || old.ConsumerCount > 0)
                throw new InvalidOperationException(
                    $"Queue '{queue}' exists with other arguments than {string.Join(", ", EmbeddingQueues.Arguments.Keys)} (an older version made it) " +
                    $"and holds {old.MessageCount} messages for {old.ConsumerCount} consumers. Let it drain, stop its workers, then delete it " +
                    $"(rabbitmqctl delete_queue {queue}); it is declared again on the next request.", ex);
            await channel.QueueDeleteAsync(queue, ifUnused: true, ifEmpty: true, cancellationToken: timeout.Token);
            await DeclareOnAsync(connection, queue, timeout.Token);
        }
    }

    private static async Task DeclareOnAsync(IConnection connection, string queue, CancellationToken ct)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: ct);
        await channel.ExchangeDeclareAsync(queue, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: ct);
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, EmbeddingQueues.Arguments, cancellationToken: ct);
        await channel.QueueBindAsync(queue, queue, "", cancellationToken: ct);
    }

    private async Task<IConnection> ConnectAsync(CancellationToken ct)
    {
        await _connecting.WaitAsync(ct);
        try
        {
            if (_connection is { IsOpen: true }) return _connection;
            if (_connection is not null) await _connection.DisposeAsync();
            _connection = null;
            return _connection = await new ConnectionFactory { Uri = new Uri(amqpUri), ClientProvidedName = clientName }.CreateConnectionAsync(ct);
        }
        finally
        {
            _connecting.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null) await _connection.DisposeAsync();
    }
}
