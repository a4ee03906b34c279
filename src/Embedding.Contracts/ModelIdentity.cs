using System.ComponentModel.DataAnnotations;

namespace Embedding.Contracts;

/// <summary>What a tier's model does: embed texts (/v1/embeddings) or score query-document pairs (/v1/rerank).</summary>
public enum ModelKind { Embedding, Reranker }

/// <summary>
/// What a client sees of a model tier: the names it answers to and the vectors it returns. Described once: the AppHost's
/// tiers (<c>Embedding:Tiers</c>) and the API's models (<c>Api:Models</c>, which the AppHost fills from the tiers) are
/// both this, plus what each side needs on top.
/// </summary>
public class ModelIdentity
{
    [Required] public string Name { get; set; } = "";

    /// <summary>Embedding tiers answer /v1/embeddings (and batch jobs); reranker tiers answer /v1/rerank and /v2/rerank.</summary>
    public ModelKind Kind { get; set; } = ModelKind.Embedding;

    /// <summary>Other names accepted for this model, e.g. the Hugging Face id "Qwen/Qwen3-Embedding-0.6B".</summary>
    public List<string> Aliases { get; set; } = [];

    /// <summary>Native vector length (a reranker's: 1, its one score).</summary>
    [Range(1, 100_000)] public int Dimensions { get; set; }

    /// <summary>Matryoshka-trained: any prefix of 32..Dimensions values, renormalised, is a valid embedding.</summary>
    public bool Matryoshka { get; set; } = true;

    /// <summary>
    /// The longest input the model takes, in tokens, end-of-sequence included: for an SGLang tier the engine's
    /// context_len - 1 (SGLang refuses <c>input_token_num &gt;= context_len</c>). /v1/models lists it as
    /// <c>max_input_tokens</c>; 0: not stated. A request's own limit (<c>Api:MaxTokensPerInput</c>) may be lower.
    /// </summary>
    [Range(0, 10_000_000)] public int InputTokenLimit { get; set; }

    /// <summary>
    /// What makes this tier's vectors (model, revision or file, precision), as its workers name it, e.g.
    /// "engine:Qwen/Qwen3-Embedding-4B:bfloat16" or "onnx:Qdrant/Qwen3-Embedding-0.6B-onnx@main/model.onnx": the API
    /// caches vectors under it and answers from its cache only vectors made this way. Unset: the API takes the identity its
    /// workers last answered with (docs/models.md).
    /// </summary>
    public string? Numerics { get; set; }

    /// <summary>Whether <paramref name="name"/> names this model (its name or an alias, any case): the one matcher for requests, keys and jobs.</summary>
    public bool IsCalled(string name) =>
        string.Equals(Name, name, StringComparison.OrdinalIgnoreCase) || Aliases.Contains(name, StringComparer.OrdinalIgnoreCase);
}
