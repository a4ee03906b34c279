namespace Embedding.Api.Batches;

/// <summary>One line answered: its output line (for the output file where it succeeded, the error file otherwise) and the tier it went to.</summary>
public sealed record BatchLineOutcome(bool Succeeded, byte[] Json, string? Model);
