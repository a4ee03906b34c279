namespace Embedding.Worker.Model;

/// <summary>
/// Qwen3-Reranker's prompt, as token ids, built exactly as the model's authors build it (QwenLM/Qwen3-Embedding,
/// examples/qwen3_reranker_transformers.py): the prefix and the suffix tokenised on their own without added tokens, and
/// between them the body <c>"&lt;Instruct&gt;: {instruction}\n&lt;Query&gt;: {query}\n&lt;Document&gt;: {document}"</c>,
/// tokenised whole (its pieces cannot be tokenised apart: the pre-tokenizer's splits cross the newlines) and cut at its
/// end when the pair would be longer than the limit. The model's answer token at the position after the suffix is
/// "yes" or "no". The repository's vLLM example joins the sections with blank lines instead; the transformers example,
/// which this follows, is the reference (docs/reranking.md).
/// </summary>
public sealed class Qwen3RerankerPrompt
{
    public const string Prefix =
        "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct provided. " +
        "Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n";

    public const string Suffix = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";

    /// <summary>The instruction of the model card and the official example, where a request sets none.</summary>
    public const string DefaultInstruction = "Given a web search query, retrieve relevant passages that answer the query";

    private readonly Qwen3Tokenizer _tokenizer;

    public Qwen3RerankerPrompt(Qwen3Tokenizer tokenizer)
    {
        _tokenizer = tokenizer;
        PrefixIds = tokenizer.Encode(Prefix, appendEndOfText: false);
        SuffixIds = tokenizer.Encode(Suffix, appendEndOfText: false);
    }

    public int[] PrefixIds { get; }
    public int[] SuffixIds { get; }

    /// <summary>Tokens every pair has whatever its body: the prefix and the suffix.</summary>
    public int FixedTokens => PrefixIds.Length + SuffixIds.Length;

    public static string Body(string? instruction, string query, string document) =>
        $"<Instruct>: {instruction ?? DefaultInstruction}\n<Query>: {query}\n<Document>: {document}";

    /// <summary>
    /// Prefix ids + body ids + suffix ids, the body cut to <paramref name="maxTokens"/> minus the prefix and suffix
    /// (the official example's max_length - len(prefix_tokens) - len(suffix_tokens), truncation at the end).
    /// </summary>
    public int[] Build(string? instruction, string query, string document, int maxTokens)
    {
        var body = _tokenizer.Encode(Body(instruction, query, document), appendEndOfText: false);
        var keep = Math.Max(0, maxTokens - FixedTokens);
        var bodyLength = Math.Min(body.Length, keep);
        var ids = new int[PrefixIds.Length + bodyLength + SuffixIds.Length];
        PrefixIds.CopyTo(ids, 0);
        Array.Copy(body, 0, ids, PrefixIds.Length, bodyLength);
        SuffixIds.CopyTo(ids, PrefixIds.Length + bodyLength);
        return ids;
    }

    /// <summary>Tokens of the pair without any document: a limit below this cannot hold the query.</summary>
    public int TokensWithoutDocument(string? instruction, string query) =>
        FixedTokens + _tokenizer.Encode(Body(instruction, query, ""), appendEndOfText: false).Length;
}
