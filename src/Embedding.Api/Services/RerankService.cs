using System.Diagnostics;
using Embedding.Api.Wire;
using Embedding.Contracts;
using Microsoft.Extensions.Options;

namespace Embedding.Api.Services;

/// <summary>
/// The rerank path, as <see cref="EmbeddingService"/> is the embedding one: score each distinct document once, answer
/// what the cache knows of the tier's numerics, send the rest to the tier's workers as one <see cref="ScorePairs"/>,
/// remember the scores under the numerics that made them. A request the cache answers whole never reaches the queue.
/// </summary>
public sealed class RerankService(EmbeddingCache cache, WorkerDispatcher dispatcher, ApiMetrics metrics, TierNumerics numerics,
                                  IOptions<EmbeddingApiOptions> options)
{
    public async Task<(RerankResult? Result, OpenAIError? Error)> RerankAsync(RerankRequest request, CancellationToken ct)
    {
        var model = request.Model.Name;
        var distinct = new Dictionary<string, int>(StringComparer.Ordinal);
        var documents = new List<string>();
        var slot = new int[request.Documents.Length];  // which distinct document document i is
        for (var i = 0; i < slot.Length; i++)
        {
            var text = request.Documents[i].Text;
            if (!distinct.TryGetValue(text, out var s))
            {
                s = documents.Count;
                distinct.Add(text, s);
                documents.Add(text);
            }
            slot[i] = s;
        }

        var identity = numerics.ForLookup(request.Model);
        string[] Keys(string made) => documents.Select(d => EmbeddingCache.PairKey(model, made, request.Instruction, request.MaxTokensPerPair, request.Query, d)).ToArray();
        var found = new CachedEmbedding?[documents.Count];
        await cache.LookupAsync(Keys(identity), found, ct);
        var missing = new List<int>();
        for (var s = 0; s < found.Length; s++) if (found[s] is null) missing.Add(s);
        Activity.Current?.SetTag("embedding.model", model);
        Activity.Current?.SetTag("embedding.rerank.documents", request.Documents.Length);
        Activity.Current?.SetTag("embedding.cache.misses", missing.Count);

        if (missing.Count > 0)
        {
            long cachedTokens = 0;
            for (var i = 0; i < slot.Length; i++) if (found[slot[i]] is { } hit) cachedTokens += hit.Tokens;
            var budget = Math.Max(1, options.Value.MaxTokensPerRequest - cachedTokens);
            var pairs = new ScorePairs(model, request.Instruction, request.Query, missing.Select(s => documents[s]).ToArray(),
                                       request.MaxTokensPerPair, budget, EmbedPriority.Interactive);
            var (answer, rejected, error) = await dispatcher.ScoreAsync(pairs, ct);
            if (error is not null) return (null, error);
            if (rejected is not null) return (null, Rejection(rejected, missing, slot));

            var entries = new CachedEmbedding[missing.Count];
            for (var j = 0; j < missing.Count; j++)
            {
                entries[j] = new CachedEmbedding([answer!.Scores[j]], answer.TokenCounts[j]);
                found[missing[j]] = entries[j];
            }
            // Stored under the identity that made them, as vectors are; a tier that names none learns it from this answer.
            var made = answer!.Numerics ?? "";
            numerics.Learn(request.Model, made);
            var keys = Keys(made);
            cache.Store(missing.Select(s => keys[s]).ToArray(), entries);
        }

        var scores = new float[slot.Length];
        long tokens = 0;
        for (var i = 0; i < slot.Length; i++)
        {
            var entry = found[slot[i]]!;
            scores[i] = entry.Vector[0];
            tokens += entry.Tokens;
        }
        if (TokenLimit.Exceeded(tokens, options.Value.MaxTokensPerRequest) is { } tooMany)
            return (null, OpenAIError.Invalid(tooMany, "documents", TokenLimit.Code));
        Activity.Current?.SetTag("embedding.cache.hits", documents.Count - missing.Count);
        Activity.Current?.SetTag("embedding.usage.tokens", tokens);
        metrics.Served(model, slot.Length, tokens);
        return (new RerankResult(scores, tokens), null);
    }

    /// <summary>A worker's refusal, pointed at the caller's document index rather than the worker's.</summary>
    private static OpenAIError Rejection(EmbedRejected rejected, List<int> missing, int[] slot)
    {
        if (rejected.Code == EmbedRejected.ModelUnavailable) return OpenAIError.ModelUnavailable(rejected.Message);
        if (rejected.Index < 0 || rejected.Index >= missing.Count) return OpenAIError.Invalid(rejected.Message, null, rejected.Code);
        var param = $"documents[{Array.IndexOf(slot, missing[rejected.Index])}]";
        return OpenAIError.Invalid($"{param}: {rejected.Message}", param, rejected.Code);
    }
}
