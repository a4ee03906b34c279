namespace Embedding.Api.Services;

/// <summary>A full-length, normalised vector and the tokens it took; any <c>dimensions</c> is served from it.</summary>
public sealed record CachedEmbedding(float[] Vector, int Tokens);
