namespace Embedding.Api.Services;

/// <summary>One embedding per input, in input order, each full-length; and the tokens they took.</summary>
public sealed record EmbeddingResult(CachedEmbedding[] Embeddings, long PromptTokens);
