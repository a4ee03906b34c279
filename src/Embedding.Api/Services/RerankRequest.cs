namespace Embedding.Api.Services;

/// <summary>A rerank request that passed every check.</summary>
/// <param name="ApiVersion">1 or 2: which of Cohere's rerank APIs was called (the response's <c>meta.api_version</c>).</param>
/// <param name="Instruction">The task the prompt states; null: the model's own default.</param>
/// <param name="MaxTokensPerPair">Tokens one pair may have, prompt and query included; a longer document is cut to fit.</param>
public sealed record RerankRequest(
    ModelOptions Model, string RequestedModel, int ApiVersion, string Query, RerankDocument[] Documents, int? TopN, bool ReturnDocuments,
    string? Instruction, int MaxTokensPerPair) : IModelRequest;

/// <summary>One document as the model scores it (<paramref name="Text"/>) and, where it came as an object, that object as sent.</summary>
/// <param name="Json">The document object's JSON as the client sent it (v1 returns every field back); null for a plain string.</param>
public sealed record RerankDocument(string Text, string? Json = null);
