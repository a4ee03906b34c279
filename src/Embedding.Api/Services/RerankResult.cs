namespace Embedding.Api.Services;

/// <summary>One relevance score per document, in request order, and the tokens the pairs took (cached ones included).</summary>
public sealed record RerankResult(float[] Scores, long Tokens);
