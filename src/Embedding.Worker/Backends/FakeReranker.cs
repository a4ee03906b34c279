using Embedding.Worker.Model;

namespace Embedding.Worker.Backends;

/// <summary>
/// FAKE reranker: not a model. A pair's score is the share of the query's distinct words (letters and digits, compared
/// case-insensitively) that occur in the document, in [0, 1]: deterministic, so that a ranking through the whole
/// service can be checked, and free, so that the service's own overhead (API, cache, queue, batching) can be measured.
/// Token counts are <see cref="TokenEstimate"/>'s of the prompt's text; a pair over the limit has its document cut at
/// the estimate's rate. Waits Worker:Fake:DelayMilliseconds per batch (none by default).
/// </summary>
public sealed class FakeReranker(FakeBackendOptions options) : IRerankerBackend
{
    public int MaxInputTokens => options.MaxInputTokens;
    public string Numerics => BackendNumerics.Fake;
    public bool PadsBatches => false;

    public TokenizedText Tokenize(string? instruction, string query, string document, int maxTokens = int.MaxValue)
    {
        var limit = Math.Min(maxTokens, MaxInputTokens);
        var fixedTokens = TokensWithoutDocument(instruction, query);
        var count = fixedTokens + TokenEstimate.Count(document) - 1;
        if (count > limit) document = document[..Math.Min(document.Length, Math.Max(0, limit - fixedTokens) * 3)];
        // The text it scores is the prompt's body: the query and the (cut) document travel together through the batcher.
        return new TokenizedText(Qwen3RerankerPrompt.Body(instruction, query, document), [], Math.Min(count, Math.Max(limit, fixedTokens)));
    }

    public int TokensWithoutDocument(string? instruction, string query) =>
        TokenEstimate.Count(Qwen3RerankerPrompt.Prefix + Qwen3RerankerPrompt.Body(instruction, query, "") + Qwen3RerankerPrompt.Suffix);

    public async Task<float[]> ScoreAsync(IReadOnlyList<TokenizedText> batch, CancellationToken cancellationToken)
    {
        if (options.DelayMilliseconds > 0) await PreciseDelay.WaitAsync(TimeSpan.FromMilliseconds(options.DelayMilliseconds), cancellationToken);
        return batch.Select(p => Score(p.Text)).ToArray();
    }

    /// <summary>The score of a prompt body: the overlap of its query with its document.</summary>
    private static float Score(string body)
    {
        const string query = "\n<Query>: ", document = "\n<Document>: ";
        var q = body.IndexOf(query, StringComparison.Ordinal) + query.Length;
        var d = body.IndexOf(document, q, StringComparison.Ordinal);
        return Overlap(body[q..d], body[(d + document.Length)..]);
    }

    /// <summary>The share of the query's distinct words that occur in the document.</summary>
    public static float Overlap(string query, string document)
    {
        var words = Words(query);
        if (words.Count == 0) return 0f;
        var inDocument = Words(document);
        return words.Count(inDocument.Contains) / (float)words.Count;
    }

    private static HashSet<string> Words(string text)
    {
        var words = new HashSet<string>(StringComparer.Ordinal);
        var start = -1;
        for (var i = 0; i <= text.Length; i++)
        {
            var inWord = i < text.Length && char.IsLetterOrDigit(text[i]);
            if (inWord && start < 0) start = i;
            else if (!inWord && start >= 0) { words.Add(text[start..i].ToLowerInvariant()); start = -1; }
        }
        return words;
    }
}
