namespace Embedding.Api.Batches;

/// <summary>One line of a batch that could not be run, found while validating the input file.</summary>
public sealed record BatchLineError(string Code, string Message, string? Param, int? Line);
