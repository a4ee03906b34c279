namespace Embedding.Contracts;

// Messages between the API and a reranker tier's workers (POST /v1/rerank, /v2/rerank). A reranker tier has its own
// queue (EmbeddingQueues.ForModel of its name) and workers, scaled by the same policy as an embedding tier's.

/// <summary>Pairs (one query, several documents) the API could not answer from its cache, to be scored by a cross-encoder.</summary>
/// <param name="Model">The reranker tier's name; the queue is chosen from it.</param>
/// <param name="Instruction">The task instruction the prompt carries; null: the model's default (the worker knows it).</param>
/// <param name="Query">The query, shared by every pair.</param>
/// <param name="Documents">Unique documents to score against the query.</param>
/// <param name="MaxTokensPerPair">A pair longer than this (prompt included) has its document cut to fit; 0: the model's limit.</param>
/// <param name="MaxTotalTokens">The request's total token limit (0 = none), checked before any model time is spent.</param>
/// <param name="Priority">Who waits: interactive callers before batch-job work.</param>
public sealed record ScorePairs(string Model, string? Instruction, string Query, IReadOnlyList<string> Documents,
                                int MaxTokensPerPair = 0, long MaxTotalTokens = 0, EmbedPriority Priority = EmbedPriority.Interactive);

/// <summary>The answer: one relevance score in [0, 1] (the model's P("yes")) per document, in request order.</summary>
/// <param name="Scores">One score per document of <see cref="ScorePairs.Documents"/>.</param>
/// <param name="TokenCounts">Tokens the model saw for each pair, prompt included (after truncation).</param>
/// <param name="Numerics">What made the scores (the backend's identity, as for vectors); the API caches scores under it.</param>
public sealed record PairsScored(float[] Scores, int[] TokenCounts, string? Numerics = null);

// A refusal is an EmbedRejected whose Index is the document's index in ScorePairs.Documents (-1: the whole request).
