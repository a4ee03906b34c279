using Microsoft.Extensions.Options;

namespace Embedding.Api.Batches;

/// <summary>
/// A job's input file checked before any model time is spent: it exists, every line can run (<see cref="BatchLines.Check"/>),
/// and it holds between one and the configured most requests.
/// </summary>
public sealed class BatchInputValidator(IBatchStore store, IOptions<EmbeddingApiOptions> options)
{
    /// <summary>Errors reported per line at most, as OpenAI's batch object lists them.</summary>
    private const int MaxLineErrors = 100;

    /// <summary>The number of requests, and what is wrong with the file (empty: it can run).</summary>
    public async Task<(int Total, List<BatchLineError> Errors)> CheckAsync(BatchJob job, CancellationToken ct)
    {
        var input = store.PathOf(job.InputFileId);
        var errors = new List<BatchLineError>();
        var total = 0;
        if (!File.Exists(input))
        {
            errors.Add(new("invalid_file", $"The input file {job.InputFileId} no longer exists.", "input_file_id", null));
            return (total, errors);
        }
        var ids = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var line in JsonlReader.ReadAsync(input, 0, 1, ct))
        {
            if (line.IsBlank) continue;
            total++;
            if (BatchLines.Check(line, job.Endpoint, ids) is { } error && errors.Count < MaxLineErrors) errors.Add(error);
        }
        var max = options.Value.Batches.MaxRequestsPerBatch;
        if (total == 0) errors.Add(new("empty_file", "The input file has no requests.", "input_file_id", null));
        if (total > max)
            errors.Add(new("too_many_requests", $"The input file has {total} requests; a batch may have at most {max}.", "input_file_id", null));
        return (total, errors);
    }
}
