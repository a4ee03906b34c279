using System.Collections.Concurrent;
using Embedding.Contracts;
using MassTransit;

namespace Embedding.Tests.Infrastructure;

/// <summary>
/// TEST DOUBLE of a reranker tier's workers (the worker's own ScorePairs consumer is built beside this API, not in it): a
/// MassTransit consumer of <see cref="ScorePairs"/> on the tier's real RabbitMQ queue, declared as the worker declares it
/// (src/Embedding.Worker/Extensions/ApplicationServicesExtensions.cs: a priority queue, no consume topology), answering
/// as src/Embedding.Contracts/RerankMessages.cs specifies: one score in [0, 1] per document in request order, the tokens
/// of each pair, the numerics that made them; a refusal as <see cref="EmbedRejected"/> with the document's index.
/// The scores are not a model's: the share of the query's words that the document contains, the same on any CPU.
/// Every message it receives is recorded.
/// </summary>
public sealed class ScorePairsWorkerDouble : IAsyncDisposable
{
    public const string Numerics = "test-double:word-overlap";

    /// <summary>What a prompt adds to every pair in this double's token count (the real prompt's prefix and suffix stand for it).</summary>
    public const int PromptTokens = 30;

    private readonly IBusControl _bus;

    public ConcurrentQueue<ScorePairs> Received { get; } = new();

    /// <summary>A refusal to answer instead of scores, or null to score.</summary>
    public Func<ScorePairs, EmbedRejected?> Refuse { get; set; } = _ => null;

    private ScorePairsWorkerDouble(string model)
    {
        var uri = new Uri(TestEnvironment.RabbitMq);
        var user = uri.UserInfo.Split(':', 2);
        _bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            var vhost = uri.AbsolutePath.Trim('/') is { Length: > 0 } v ? Uri.UnescapeDataString(v) : "/";
            cfg.Host(uri.Host, (ushort)(uri.IsDefaultPort ? 5672 : uri.Port), vhost, h =>
            {
                h.Username(Uri.UnescapeDataString(user[0]));
                h.Password(user.Length > 1 ? Uri.UnescapeDataString(user[1]) : "");
            });
            cfg.ReceiveEndpoint(EmbeddingQueues.ForModel(model), e =>
            {
                e.ConfigureConsumeTopology = false;
                e.EnablePriority(EmbeddingQueues.MaxPriority);
                e.Handler<ScorePairs>(async context =>
                {
                    var pairs = context.Message;
                    Received.Enqueue(pairs);
                    if (Refuse(pairs) is { } refusal)
                    {
                        await context.RespondAsync(refusal);
                        return;
                    }
                    await context.RespondAsync(new PairsScored(
                        pairs.Documents.Select(d => Score(pairs.Query, d)).ToArray(),
                        pairs.Documents.Select(d => Tokens(pairs, d)).ToArray(),
                        Numerics));
                });
            });
        });
    }

    public static async Task<ScorePairsWorkerDouble> StartAsync(string model)
    {
        var worker = new ScorePairsWorkerDouble(model);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await worker._bus.StartAsync(timeout.Token);
        return worker;
    }

    /// <summary>The share of the query's distinct words (lower case) that the document contains.</summary>
    public static float Score(string query, string document)
    {
        var words = Words(query).ToHashSet();
        var present = Words(document).ToHashSet();
        return words.Count == 0 ? 0 : (float)words.Count(present.Contains) / words.Count;
    }

    /// <summary>Words of the instruction, query and document plus the prompt, cut to the pair limit as the document would be.</summary>
    public static int Tokens(ScorePairs pairs, string document)
    {
        var tokens = PromptTokens + Words(pairs.Instruction ?? "").Count() + Words(pairs.Query).Count() + Words(document).Count();
        return pairs.MaxTokensPerPair > 0 ? Math.Min(tokens, pairs.MaxTokensPerPair) : tokens;
    }

    private static IEnumerable<string> Words(string text) =>
        text.ToLowerInvariant().Split([' ', '\n', '\t', '.', ',', '?', '!'], StringSplitOptions.RemoveEmptyEntries);

    public async ValueTask DisposeAsync() => await _bus.StopAsync();
}
