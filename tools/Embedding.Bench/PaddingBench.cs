using System.Diagnostics;
using System.Text;
using Embedding.Worker;
using Embedding.Worker.Backends;
using Embedding.Worker.Batching;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

/// <summary>
/// What mixing lengths in a padded batch costs on CPU: the worker's real TokenBudgetBatcher and ONNX backend, given a pile
/// of single-text requests of 16-64 words (as bench/load.sh sends; fixed seed) at once, the way a busy worker finds them.
/// Compares filling batches in arrival order (MaxPaddingShare 1) with grouping similar lengths (the default), alternating
/// passes so that a noisy machine hurts both alike; reports the best pass of each as milliseconds per text.
/// </summary>
public static class PaddingBench
{
    private static readonly string[] Words = ["vector", "search", "query", "document", "river", "model", "token", "cache", "queue", "worker"];

    public static async Task RunAsync(string modelDirectory, string outputMarkdown, int texts = 512, int passes = 5)
    {
        using var backend = new OnnxQwen3Backend(modelDirectory, new OnnxBackendOptions());
        var random = new Random(7);
        var pile = Enumerable.Range(0, texts)
            .Select(i => backend.Tokenize($"{i} " + string.Join(' ', Enumerable.Range(0, random.Next(16, 65)).Select(_ => Words[random.Next(Words.Length)])), truncate: true))
            .ToArray();
        var shares = new[] { 1.0, new WorkerOptions().MaxPaddingShare };
        var best = shares.ToDictionary(s => s, _ => double.MaxValue);
        var batches = new Dictionary<double, int>();
        await backend.EmbedAsync(pile.Take(8).ToList(), CancellationToken.None);  // warm-up
        for (var pass = 0; pass < passes; pass++)
            foreach (var share in shares)
            {
                var (seconds, count) = await PassAsync(backend, pile, share);
                best[share] = Math.Min(best[share], seconds);
                batches[share] = count;
            }

        var sb = new StringBuilder();
        sb.AppendLine($"{texts} single-text requests of 16-64 words ({pile.Average(t => t.TokenCount):F0} tokens on average, {pile.Min(t => t.TokenCount)}-{pile.Max(t => t.TokenCount)}), " +
                      $"all waiting at once; tiny ONNX model, {Environment.ProcessorCount} cores; best of {passes} alternating passes.");
        sb.AppendLine();
        sb.AppendLine("| MaxPaddingShare | batches | ms per text | vs arrival order |");
        sb.AppendLine("|---|---|---|---|");
        foreach (var share in shares)
            sb.AppendLine($"| {share:0.##}{(share >= 1 ? " (arrival order)" : " (default)")} | {batches[share]} | {best[share] * 1000 / texts:F2} | {best[1.0] / best[share]:F2}x |");
        Console.Write(sb);
        await File.WriteAllTextAsync(outputMarkdown, sb.ToString());
    }

    private static async Task<(double Seconds, int Batches)> PassAsync(IEmbeddingBackend backend, TokenizedText[] pile, double share)
    {
        var options = Options.Create(new WorkerOptions { MaxPaddingShare = share });
        var counting = new CountingBackend(backend);
        var batcher = new TokenBudgetBatcher(counting, options, new WorkerMetrics(new BenchMeterFactory(), options), NullLogger<TokenBudgetBatcher>.Instance);
        var clock = Stopwatch.StartNew();
        // Queued before the batching loop starts, so every batch is formed from the whole pile.
        var requests = pile.Select(t => batcher.EmbedAsync([t], CancellationToken.None)).ToArray();
        await batcher.StartAsync(CancellationToken.None);
        await Task.WhenAll(requests);
        var seconds = clock.Elapsed.TotalSeconds;
        await batcher.StopAsync(CancellationToken.None);
        return (seconds, counting.Batches);
    }
}
