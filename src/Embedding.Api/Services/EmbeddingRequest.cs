namespace Embedding.Api.Services;

/// <summary>A request that passed every check.</summary>
public sealed record EmbeddingRequest(
    ModelOptions Model, string RequestedModel, string[] Inputs, int? Dimensions, bool Base64, string? QueryInstruction, bool Truncate) : IModelRequest;
