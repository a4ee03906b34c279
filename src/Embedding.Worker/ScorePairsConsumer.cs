using System.Diagnostics;
using Embedding.Contracts;
using Embedding.Worker.Backends;
using Embedding.Worker.Batching;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Embedding.Worker;

/// <summary>
/// Answers one <see cref="ScorePairs"/> message on a reranker worker, as <see cref="EmbedTextsConsumer"/> answers texts:
/// the pairs join the shared batcher, the answer is sent before Consume returns (so a worker that dies mid-batch leaves
/// the message on the queue), and requests it must refuse are answered before any model time is spent. A document
/// longer than the pair limit is cut to fit, as the model's authors truncate; a query that leaves no room for any
/// document is refused. An embedding worker refuses every ScorePairs: it has no reranker.
/// </summary>
public sealed class ScorePairsConsumer(IRerankerBackend reranker, TokenBudgetBatcher batcher, IOptions<WorkerOptions> options)
    : IConsumer<ScorePairs>
{
    /// <summary>The code of a request for a model of the other kind (an embedding model asked to rerank, or the reverse).</summary>
    public const string WrongModelKind = "invalid_model";

    public async Task Consume(ConsumeContext<ScorePairs> context)
    {
        var message = context.Message;
        Activity.Current?.SetTag("embedding.model", message.Model);
        Activity.Current?.SetTag("embedding.inputs", message.Documents.Count);
        if (context.SentTime is { } sent)
            Activity.Current?.SetTag("embedding.queue.wait_ms", Math.Max(0, (DateTime.UtcNow - sent).TotalMilliseconds));

        var o = options.Value;
        if (!string.Equals(message.Model, o.Model, StringComparison.OrdinalIgnoreCase))
        {
            await context.RespondAsync(new EmbedRejected(-1, "model_not_found", $"This worker serves '{o.Model}', not '{message.Model}'."));
            return;
        }
        if (o.Kind != ModelKind.Reranker)
        {
            await context.RespondAsync(new EmbedRejected(-1, WrongModelKind,
                $"'{o.Model}' is an embedding model: it embeds texts (/v1/embeddings) and cannot score query-document pairs."));
            return;
        }
        if (reranker is UnavailableBackend unavailable)
        {
            await context.RespondAsync(new EmbedRejected(-1, EmbedRejected.ModelUnavailable, $"The model '{message.Model}' is unavailable: {unavailable.Reason}"));
            return;
        }

        var limit = message.MaxTokensPerPair > 0 ? Math.Min(message.MaxTokensPerPair, reranker.MaxInputTokens) : reranker.MaxInputTokens;
        if (message.Documents.Count > 0 && reranker.TokensWithoutDocument(message.Instruction, message.Query) is var bare && bare >= limit)
        {
            await context.RespondAsync(new EmbedRejected(-1, "context_length_exceeded",
                $"The query, with the instruction and the model's prompt, has {bare} tokens; a pair (query and document) may have at most " +
                $"{limit}, which leaves no room for a document. Shorten the query or the instruction."));
            return;
        }
        var pairs = new TokenizedText[message.Documents.Count];
        long total = 0;
        for (var i = 0; i < pairs.Length; i++)
        {
            pairs[i] = reranker.Tokenize(message.Instruction, message.Query, message.Documents[i], limit);
            total += pairs[i].TokenCount;
        }
        if (TokenLimit.Exceeded(total, message.MaxTotalTokens) is { } tooMany)
        {
            await context.RespondAsync(new EmbedRejected(-1, TokenLimit.Code, tooMany));
            return;
        }

        // Not context.CancellationToken: a stopping worker finishes and answers what it holds (see EmbedTextsConsumer).
        Activity.Current?.SetTag("embedding.tokens", total);
        float[][] scores;
        try
        {
            scores = pairs.Length == 0 ? [] : await batcher.EmbedAsync(pairs, CancellationToken.None, message.Priority);
        }
        catch (InputRejectedException refused)
        {
            await context.RespondAsync(new EmbedRejected(refused.Index, EmbedRejected.InvalidInput, refused.Message));
            return;
        }
        await context.RespondAsync(new PairsScored(scores.Select(s => s[0]).ToArray(), pairs.Select(p => p.TokenCount).ToArray(), reranker.Numerics));
    }
}
