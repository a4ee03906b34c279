using System.Collections.Concurrent;
using Embedding.Api.Wire;
using Embedding.Contracts;
using MassTransit;
using Microsoft.Extensions.Options;
using Embedding.Messaging;

namespace Embedding.Api.Services;

/// <summary>
/// Sends cache misses to the model's queue with MassTransit request/response and waits for the answer.
/// The request's time-to-live equals its timeout, so a request nobody waits for any more expires on
/// the queue instead of costing a worker time. A worker that dies mid-batch leaves the message
/// unacknowledged; RabbitMQ gives it to another worker, whose answer still reaches this waiter.
/// Interactive requests go at the queue's higher priority; batch jobs' at the lower one, with a longer timeout
/// (a job can wait for a tier to start from zero).
/// </summary>
public class WorkerDispatcher(IClientFactory clientFactory, QueueInspector broker, IOptions<EmbeddingApiOptions> options,
                                     ApiMetrics metrics, ILogger<WorkerDispatcher> logger)
{
    private readonly ConcurrentDictionary<(string, EmbedPriority), IRequestClient<EmbedTexts>> _clients = new();
    private readonly ConcurrentDictionary<string, Task> _declared = new(StringComparer.OrdinalIgnoreCase);
    private readonly EmbeddingApiOptions _options = options.Value;

    public int TimeoutSeconds(EmbedPriority priority) =>
        priority == EmbedPriority.Batch ? _options.Batches.RequestTimeoutSeconds : _options.RequestTimeoutSeconds;

    /// <summary>The worker's answer, its refusal, or why none came. Virtual: EmbeddingService's unit tests answer here as a worker would, with no broker.</summary>
    public virtual async Task<(TextsEmbedded? Answer, EmbedRejected? Rejected, OpenAIError? Error)> EmbedAsync(
        string model, IReadOnlyList<string> texts, bool truncate, long maxTotalTokens, EmbedPriority priority, CancellationToken ct)
    {
        var timeout = TimeoutSeconds(priority);
        // The queue is declared by us, not by MassTransit's send (bind=false): its declaration carries the priority argument.
        var client = _clients.GetOrAdd((model, priority), k => clientFactory.CreateRequestClient<EmbedTexts>(
            new Uri($"queue:{EmbeddingQueues.ForModel(k.Item1)}?bind=false"), RequestTimeout.After(s: timeout)));
        // MassTransit's timeout covers the wait for an answer; sending can also stall while the broker is down and the
        // connection recovers, and not every wait in there observes cancellation. This bound covers both, so no request
        // outlives its timeout (an abandoned send finishes or fails in the background).
        var limit = TimeSpan.FromSeconds(timeout + 1);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(limit);
        using var waiting = metrics.Waiting(model);
        try
        {
            await DeclareQueueAsync(model, deadline.Token);
            var response = await client.GetResponse<TextsEmbedded, EmbedRejected>(
                new EmbedTexts(model, texts, truncate, _options.MaxTokensPerInput, maxTotalTokens, priority),
                x => x.UseExecute(send => send.SetPriority((byte)priority)), deadline.Token).WaitAsync(limit, ct);
            if (response.Is(out Response<TextsEmbedded>? embedded))
            {
                var answer = embedded.Message;
                if (answer.TokenCounts.Length != texts.Count || answer.Vectors.Length != texts.Count * answer.Dimensions * sizeof(float))
                    return (null, null, Unavailable("A worker returned a malformed answer; please retry."));
                return (answer, null, null);
            }
            response.Is(out Response<EmbedRejected>? rejected);
            return (null, rejected!.Message, null);
        }
        catch (Exception ex) when (ex is RequestTimeoutException or TimeoutException || (ex is OperationCanceledException && !ct.IsCancellationRequested))
        {
            return (null, null, Unavailable(
                $"No embedding worker for '{model}' answered within {timeout} s. " +
                "Workers may be starting from zero or overloaded; retry after the indicated time."));
        }
        catch (RequestFaultException ex)
        {
            logger.LogWarning("Worker faulted on a request for {Model}: {Reason}", model, ex.Fault?.Exceptions.FirstOrDefault()?.Message);
            return (null, null, Unavailable("The embedding backend failed on this request after retries; please retry."));
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            logger.LogWarning(ex, "Could not reach the workers for {Model}", model);
            return (null, null, Unavailable("The message queue is unavailable; please retry."));
        }
    }

    /// <summary>Once per tier and process (again after a failure): the broker keeps durable queues across its restarts.</summary>
    private async Task DeclareQueueAsync(string model, CancellationToken ct)
    {
        var declared = _declared.GetOrAdd(model, m => broker.DeclareAsync(EmbeddingQueues.ForModel(m), CancellationToken.None));
        try
        {
            await declared.WaitAsync(ct);
        }
        catch (Exception) when (declared.IsFaulted || declared.IsCanceled)
        {
            _declared.TryRemove(new(model, declared));
            throw;
        }
    }

    private OpenAIError Unavailable(string message) => OpenAIError.Unavailable(message, _options.RetryAfterSeconds);
}
