using System.Collections.Concurrent;
using Embedding.Api.Apis;
using Embedding.Contracts;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Embedding.Api.Services;

/// <summary>
/// Sends cache misses to the model's queue with MassTransit request/response and waits for the answer.
/// The request's time-to-live equals its timeout, so a request nobody waits for any more expires on
/// the queue instead of costing a worker time. A worker that dies mid-batch leaves the message
/// unacknowledged; RabbitMQ gives it to another worker, whose answer still reaches this waiter.
/// </summary>
public sealed class WorkerDispatcher(IClientFactory clientFactory, IOptions<EmbeddingApiOptions> options, ApiMetrics metrics, ILogger<WorkerDispatcher> logger)
{
    private readonly ConcurrentDictionary<string, IRequestClient<EmbedTexts>> _clients = new(StringComparer.OrdinalIgnoreCase);
    private readonly EmbeddingApiOptions _options = options.Value;

    public async Task<(TextsEmbedded? Answer, EmbedRejected? Rejected, OpenAIError? Error)> EmbedAsync(
        string model, IReadOnlyList<string> texts, bool truncate, long maxTotalTokens, CancellationToken ct)
    {
        var client = _clients.GetOrAdd(model, m => clientFactory.CreateRequestClient<EmbedTexts>(
            new Uri($"queue:{EmbeddingQueues.ForModel(m)}"), RequestTimeout.After(s: _options.RequestTimeoutSeconds)));
        // MassTransit's timeout covers the wait for an answer; sending can also stall while the broker is down and the
        // connection recovers, and not every wait in there observes cancellation. This bound covers both, so no request
        // outlives its timeout (an abandoned send finishes or fails in the background).
        var limit = TimeSpan.FromSeconds(_options.RequestTimeoutSeconds + 1);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(limit);
        using var waiting = metrics.Waiting(model);
        try
        {
            var response = await client.GetResponse<TextsEmbedded, EmbedRejected>(
                new EmbedTexts(model, texts, truncate, _options.MaxTokensPerInput, maxTotalTokens), deadline.Token).WaitAsync(limit, ct);
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
                $"No embedding worker for '{model}' answered within {_options.RequestTimeoutSeconds} s. " +
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

    private OpenAIError Unavailable(string message) => OpenAIError.Unavailable(message, _options.RetryAfterSeconds);
}
