using System.Diagnostics;
using Embedding.Contracts;
using Embedding.Worker.Backends;
using Embedding.Worker.Batching;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Embedding.Worker;

/// <summary>
/// Answers one <see cref="EmbedTexts"/> message. Its texts join the shared batcher; the response is
/// sent before Consume returns, and MassTransit acknowledges the message only after that, so a worker
/// that dies mid-batch leaves the message on the queue for another worker, and a worker told to stop
/// finishes what it holds first. A reranker worker refuses every EmbedTexts: its model scores pairs.
/// </summary>
public sealed class EmbedTextsConsumer(IEmbeddingBackend backend, TokenBudgetBatcher batcher, IOptions<WorkerOptions> options)
    : IConsumer<EmbedTexts>
{
    public async Task Consume(ConsumeContext<EmbedTexts> context)
    {
        var message = context.Message;
        Activity.Current?.SetTag("embedding.model", message.Model);
        Activity.Current?.SetTag("embedding.inputs", message.Texts.Count);
        // Time on the queue: from the API's send to this worker taking it (cold start waits included).
        if (context.SentTime is { } sent)
            Activity.Current?.SetTag("embedding.queue.wait_ms", Math.Max(0, (DateTime.UtcNow - sent).TotalMilliseconds));

        if (!string.Equals(message.Model, options.Value.Model, StringComparison.OrdinalIgnoreCase))
        {
            await context.RespondAsync(new EmbedRejected(-1, "model_not_found", $"This worker serves '{options.Value.Model}', not '{message.Model}'."));
            return;
        }

        if (options.Value.Kind != ModelKind.Embedding)
        {
            await context.RespondAsync(new EmbedRejected(-1, ScorePairsConsumer.WrongModelKind,
                $"'{options.Value.Model}' is a reranker: it scores query-document pairs (/v1/rerank) and does not embed texts."));
            return;
        }

        if (backend is UnavailableBackend unavailable)
        {
            await context.RespondAsync(new EmbedRejected(-1, EmbedRejected.ModelUnavailable, $"The model '{message.Model}' is unavailable: {unavailable.Reason}"));
            return;
        }

        // The request's own limits (the API's, at most the model's context) are checked before any model time is spent.
        var limit = message.MaxTokensPerInput > 0 ? Math.Min(message.MaxTokensPerInput, backend.MaxInputTokens) : backend.MaxInputTokens;
        var tokenized = new TokenizedText[message.Texts.Count];
        long total = 0;
        for (var i = 0; i < tokenized.Length; i++)
        {
            tokenized[i] = backend.Tokenize(message.Texts[i], message.Truncate, limit);
            total += tokenized[i].TokenCount;
            if (tokenized[i].TokenCount > limit)
            {
                await context.RespondAsync(new EmbedRejected(i, "context_length_exceeded",
                    $"Input {i} has {tokenized[i].TokenCount} tokens; the limit is {limit}. " +
                    "Shorten it, or send \"truncate\": true to cut it to the limit."));
                return;
            }
        }
        if (TokenLimit.Exceeded(total, message.MaxTotalTokens) is { } tooMany)
        {
            await context.RespondAsync(new EmbedRejected(-1, TokenLimit.Code, tooMany));
            return;
        }

        // Not context.CancellationToken: MassTransit cancels it when the bus stops, and a stopping worker
        // (scale-in, SIGTERM) must finish and answer what it holds. Requests nobody waits for any more
        // expire on the queue (time-to-live) before reaching a worker.
        Activity.Current?.SetTag("embedding.tokens", total);
        float[][] vectors;
        try
        {
            vectors = await batcher.EmbedAsync(tokenized, CancellationToken.None, message.Priority);
        }
        catch (InputRejectedException refused)
        {
            // The engine refuses this text (the batcher has tried it alone): retrying cannot help, the caller must change it.
            await context.RespondAsync(new EmbedRejected(refused.Index, EmbedRejected.InvalidInput, refused.Message));
            return;
        }
        await context.RespondAsync(new TextsEmbedded(
            backend.Dimensions, VectorMath.Pack(vectors, backend.Dimensions), tokenized.Select(t => t.TokenCount).ToArray(), backend.Numerics));
    }
}
