using System.Diagnostics;
using Embedding.Api.Wire;
using Embedding.Contracts;
using Microsoft.Extensions.Options;

namespace Embedding.Api.Services;

/// <summary>
/// The request path: apply the query instruction, compute each distinct text once, answer what the
/// cache knows of the tier's numerics (and, where switched on, what a near-identical cached text answers), send the rest
/// to a worker, remember the answers under the numerics that made them.
/// </summary>
public sealed class EmbeddingService(EmbeddingCache cache, NearDuplicateIndex nearDuplicates, WorkerDispatcher dispatcher, ApiMetrics metrics,
                                     TierNumerics numerics, IOptions<EmbeddingApiOptions> options)
{
    public async Task<(EmbeddingResult? Result, OpenAIError? Error)> EmbedAsync(EmbeddingRequest request, CancellationToken ct,
                                                                                 EmbedPriority priority = EmbedPriority.Interactive)
    {
        var model = request.Model.Name;
        // Distinct texts as the model will see them; slot[i] says which one input i is.
        var distinct = new Dictionary<string, int>(StringComparer.Ordinal);
        var texts = new List<string>();
        var inputs = new List<string>();  // each distinct text's input, without the instruction
        var slot = new int[request.Inputs.Length];
        for (var i = 0; i < request.Inputs.Length; i++)
        {
            var text = request.QueryInstruction is null ? request.Inputs[i] : $"Instruct: {request.QueryInstruction}\nQuery:{request.Inputs[i]}";
            if (!distinct.TryGetValue(text, out var s))
            {
                s = texts.Count;
                distinct.Add(text, s);
                texts.Add(text);
                inputs.Add(request.Inputs[i]);
            }
            slot[i] = s;
        }

        var identity = numerics.ForLookup(request.Model);
        var keys = texts.Select(t => EmbeddingCache.Key(model, identity, t)).ToArray();
        var found = new CachedEmbedding?[texts.Count];
        await cache.LookupAsync(keys, found, ct);

        var missing = new List<int>();
        for (var s = 0; s < found.Length; s++) if (found[s] is null) missing.Add(s);
        var near = nearDuplicates.Enabled ? new NearDuplicateLookup(nearDuplicates, model, identity, request.QueryInstruction, inputs) : null;
        near?.Remember(Enumerable.Range(0, found.Length).Where(s => found[s] is not null), keys);
        if (near is not null && missing.Count > 0) missing = await ReuseNearDuplicatesAsync(near, missing, found, ct);
        Activity.Current?.SetTag("embedding.model", model);
        Activity.Current?.SetTag("embedding.inputs", request.Inputs.Length);
        Activity.Current?.SetTag("embedding.cache.misses", missing.Count);

        if (missing.Count > 0)
        {
            // The worker checks the request's token limit before spending model time: what the cache already answered counts too.
            long cachedTokens = 0;
            for (var i = 0; i < slot.Length; i++) if (found[slot[i]] is { } hit) cachedTokens += hit.Tokens;
            var budget = Math.Max(1, options.Value.MaxTokensPerRequest - cachedTokens);
            var (answer, rejected, error) = await dispatcher.EmbedAsync(model, missing.Select(s => texts[s]).ToArray(), request.Truncate, budget, priority, ct);
            if (error is not null) return (null, error);
            if (rejected is not null) return (null, Rejection(rejected, missing, slot));

            var entries = new CachedEmbedding[missing.Count];
            var width = answer!.Dimensions * sizeof(float);
            for (var j = 0; j < missing.Count; j++)
            {
                entries[j] = new CachedEmbedding(VectorMath.Unpack(answer.Vectors.AsSpan(j * width, width)), answer.TokenCounts[j]);
                found[missing[j]] = entries[j];
            }
            // Stored under the identity that made them; where it is not the one looked up, near duplicates do not learn
            // them. The first answer for a tier that names no numerics says what its lookups use from now on.
            var made = answer.Numerics ?? "";
            numerics.Learn(request.Model, made);
            if (identity.Length == 0 && made.Length > 0)
            {
                identity = made;
                keys = texts.Select(t => EmbeddingCache.Key(model, identity, t)).ToArray();
                near?.Rescope(identity);
            }
            if (made == identity)
            {
                cache.Store(missing.Select(s => keys[s]).ToArray(), entries);
                near?.Remember(missing, keys);
            }
            else cache.Store(missing.Select(s => EmbeddingCache.Key(model, made, texts[s])).ToArray(), entries);
        }

        var result = new CachedEmbedding[request.Inputs.Length];
        long tokens = 0;
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = found[slot[i]]!;
            tokens += result[i].Tokens;
        }
        if (TokenLimit.Exceeded(tokens, options.Value.MaxTokensPerRequest) is { } tooMany)
            return (null, OpenAIError.Invalid(tooMany, "input", TokenLimit.Code));
        Activity.Current?.SetTag("embedding.cache.hits", texts.Count - missing.Count);
        Activity.Current?.SetTag("embedding.usage.tokens", tokens);
        metrics.Served(model, result.Length, tokens);
        return (new EmbeddingResult(result, tokens), null);
    }

    /// <summary>Answers the missing texts a near-identical cached text can answer; returns those still missing.</summary>
    private async Task<List<int>> ReuseNearDuplicatesAsync(NearDuplicateLookup near, List<int> missing, CachedEmbedding?[] found, CancellationToken ct)
    {
        var matches = missing.Select(s => (Slot: s, Match: near.Find(s))).Where(m => m.Match is not null).ToList();
        if (matches.Count == 0) return missing;
        var vectors = new CachedEmbedding?[matches.Count];
        await cache.LookupAsync(matches.Select(m => m.Match!.Value.Key).ToArray(), vectors, ct, countHits: false);
        var reused = 0;
        for (var j = 0; j < matches.Count; j++)
        {
            if (vectors[j] is null) continue;  // the neighbour's vector has left the cache
            found[matches[j].Slot] = vectors[j];
            reused++;
        }
        Activity.Current?.SetTag("embedding.cache.near_duplicates", reused);
        metrics.NearDuplicatesReused(near.Model, reused);
        return missing.Where(s => found[s] is null).ToList();
    }

    /// <summary>Fingerprints of one request's texts (computed once), scoped by model, numerics and instruction.</summary>
    private sealed class NearDuplicateLookup(NearDuplicateIndex index, string model, string numerics, string? instruction, List<string> inputs)
    {
        private readonly ulong?[] _fingerprints = new ulong?[inputs.Count];
        private string _scope = $"{model}\n{numerics}\n{instruction}";

        /// <summary>Remembers and finds under <paramref name="identity"/> from now on (a tier's numerics learned from its first answer).</summary>
        public void Rescope(string identity) => _scope = $"{model}\n{identity}\n{instruction}";

        public string Model => model;

        private ulong? Fingerprint(int s) => index.Eligible(inputs[s]) ? _fingerprints[s] ??= SimHash.Of(inputs[s]) : null;

        public (string Key, int Distance)? Find(int s) => Fingerprint(s) is { } f ? index.Find(_scope, f) : null;

        /// <summary>Texts whose own vector is now cached under their own key (never a reused neighbour's).</summary>
        public void Remember(IEnumerable<int> slots, string[] keys)
        {
            // Cache hits are mostly texts remembered before: skip them before paying for a fingerprint on every request.
            foreach (var s in slots) if (!index.Contains(keys[s]) && Fingerprint(s) is { } f) index.Add(_scope, f, keys[s]);
        }
    }

    /// <summary>A worker's refusal, pointed at the caller's input index rather than the worker's.</summary>
    private static OpenAIError Rejection(EmbedRejected rejected, List<int> missing, int[] slot)
    {
        if (rejected.Code == EmbedRejected.ModelUnavailable) return OpenAIError.ModelUnavailable(rejected.Message);
        string? param = null;
        if (rejected.Index >= 0 && rejected.Index < missing.Count)
        {
            var input = Array.IndexOf(slot, missing[rejected.Index]);
            param = $"input[{input}]";
        }
        var message = param is null ? rejected.Message : $"{param}: {rejected.Message.Replace($"Input {rejected.Index} has", "it has")}";
        return OpenAIError.Invalid(message, param, rejected.Code);
    }
}
