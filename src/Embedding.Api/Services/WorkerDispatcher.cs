using System.Collections.Concurrent;
using Embedding.Api.Wire;
using Embedding.Contracts;
using MassTransit;
using Microsoft.Extensions.Options;
using Embedding.Messaging;

namespace Embedding.Api.Services;

/// <summary>
/// Sends cache misses to the model's queue with MassTransit request/response and waits for the answer: texts to an
/// embedding tier (<see cref="EmbedTexts"/>), query-document pairs to a reranker tier (<see cref="ScorePairs"/>), both
/// by the same path. The request's time-to-live equals its timeout, so a request nobody waits for any more expires on
/// the queue instead of costing a worker time. A worker that dies mid-batch leaves the message
/// unacknowledged; RabbitMQ gives it to another worker, whose answer still reaches this waiter.
/// Interactive requests go at the queue's higher priority; batch jobs' at the lower one, with a longer timeout
/// (a job can wait for a tier to start from zero).
/// </summary>
public class WorkerDispatcher(IClientFactory clientFactory, QueueInspector broker, IOptions<EmbeddingApiOptions> options,
                                     ApiMetrics metrics, ILogger<WorkerDispatcher> logger)
{
    private readonly ConcurrentDictionary<(Type, string, EmbedPriority), object> _clients = new();
    private readonly ConcurrentDictionary<string, Task> _declared = new(StringComparer.OrdinalIgnoreCase);
    private readonly EmbeddingApiOptions _options = options.Value;

    public int TimeoutSeconds(EmbedPriority priority) =>
        priority == EmbedPriority.Batch ? _options.Batches.RequestTimeoutSeconds : _options.RequestTimeoutSeconds;

    /// <summary>The worker's vectors, its refusal, or why none came. Virtual: EmbeddingService's unit tests answer here as a worker would, with no broker.</summary>
    public virtual Task<(TextsEmbedded? Answer, EmbedRejected? Rejected, OpenAIError? Error)> EmbedAsync(
        string model, IReadOnlyList<string> texts, bool truncate, long maxTotalTokens, EmbedPriority priority, CancellationToken ct) =>
        RequestAsync<EmbedTexts, TextsEmbedded>(model, new EmbedTexts(model, texts, truncate, _options.MaxTokensPerInput, maxTotalTokens, priority), priority,
            a => a.TokenCounts.Length == texts.Count && a.Vectors.Length == texts.Count * a.Dimensions * sizeof(float), ct);

    /// <summary>The reranker's scores, its refusal, or why none came. Virtual: RerankService's unit tests answer here as a worker would.</summary>
    public virtual Task<(PairsScored? Answer, EmbedRejected? Rejected, OpenAIError? Error)> ScoreAsync(ScorePairs pairs, CancellationToken ct) =>
        RequestAsync<ScorePairs, PairsScored>(pairs.Model, pairs, pairs.Priority,
            a => a.Scores.Length == pairs.Documents.Count && a.TokenCounts.Length == pairs.Documents.Count && a.Scores.All(float.IsFinite), ct);

    private async Task<(TAnswer? Answer, EmbedRejected? Rejected, OpenAIError? Error)> RequestAsync<TRequest, TAnswer>(
        string model, TRequest message, EmbedPriority priority, Func<TAnswer, bool> wellFormed, CancellationToken ct)
        where TRequest : class where TAnswer : class
    {
        var timeout = TimeoutSeconds(priority);
        // The queue is declared by us, not by MassTransit's send (bind=false): its declaration carries the priority argument.
        var client = (IRequestClient<TRequest>)_clients.GetOrAdd((typeof(TRequest), model, priority), k => clientFactory.CreateRequestClient<TRequest>(
            new Uri($"queue:{EmbeddingQueues.ForModel(k.Item2)}?bind=false"), RequestTimeout.After(s: timeout)));
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
            var response = await client.GetResponse<TAnswer, EmbedRejected>(
                message, x => x.UseExecute(send => send.SetPriority((byte)priority)), deadline.Token).WaitAsync(limit, ct);
            if (response.Is(out Response<TAnswer>? answered))
            {
                return wellFormed(answered.Message)
                    ? (answered.Message, null, null)
                    : (null, null, Unavailable("A worker returned a malformed answer; please retry."));
            }
            response.Is(out Response<EmbedRejected>? rejected);
            return (null, rejected!.Message, null);
        }
        catch (Exception ex) when (ex is RequestTimeoutException or TimeoutException || (ex is OperationCanceledException && !ct.IsCancellationRequested))
        {
            return (null, null, Unavailable(
                $"No worker for '{model}' answered within {timeout} s. " +
                "Workers may be starting from zero or overloaded; retry after the indicated time."));
        }
        catch (RequestFaultException ex)
        {
            logger.LogWarning("Worker faulted on a request for {Model}: {Reason}", model, ex.Fault?.Exceptions.FirstOrDefault()?.Message);
            return (null, null, Unavailable($"The model backend of '{model}' failed on this request after retries; please retry."));
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
