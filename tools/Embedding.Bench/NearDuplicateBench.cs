using System.Net.Http.Json;
using System.Text;
using Embedding.Api.Services;
using Embedding.Contracts;
using Embedding.Worker;
using Embedding.Worker.Backends;

/// <summary>
/// What near-duplicate reuse costs in accuracy and saves in model work, per SimHash threshold. A fixed corpus (seeded):
/// base passages, and for each some of the variants a crawled corpus is full of — spacing changed, case and
/// punctuation changed, a boilerplate line added, one to three words changed, the last sentence dropped — plus unrelated
/// passages. Every text is embedded by the real ONNX backend; for each threshold, each variant that finds a base
/// passage within it would get that passage's vector: the report gives the cosine between that vector and the variant's
/// own, the share of variant tokens that would not be embedded, and the matches that landed on another passage.
/// </summary>
static class NearDuplicateBench
{
    private static readonly string[] Subjects = ["The embedding service", "Our search index", "The billing system", "A queue worker", "The support team",
        "The mobile app", "Each nightly job", "The data pipeline", "The reporting dashboard", "A cache node", "The login page", "The export tool"];
    private static readonly string[] Verbs = ["processes", "rejects", "stores", "forwards", "summarises", "encrypts", "retries", "indexes", "compresses", "validates"];
    private static readonly string[] Objects = ["customer invoices", "uploaded documents", "search queries", "audit events", "product images",
        "shipping labels", "chat transcripts", "sensor readings", "password resets", "refund requests", "monthly statements", "error reports"];
    private static readonly string[] Tails = ["before midnight", "within five seconds", "when the region fails over", "for enterprise accounts only",
        "after a manual review", "unless the quota is exceeded", "in the order they arrive", "with a signed receipt", "on every second Tuesday"];
    private static readonly string[] Swaps = ["quickly", "rarely", "automatically", "silently", "twice", "eventually", "carefully", "reliably"];

    /// <param name="source">An ONNX model directory, or the URL of an OpenAI-compatible /v1/embeddings followed by
    /// <c>#model</c> (e.g. a deployment serving Qwen3-Embedding-4B), to measure with the model users get.</param>
    public static async Task RunAsync(string source, string output, int passages = 300)
    {
        var modelDirectory = source;
        using var embedder = Embedder.For(source);
        var random = new Random(20261125);
        var bases = Enumerable.Range(0, passages).Select(_ => Passage(random, 3)).ToList();
        var variants = new List<(string Kind, int Base, string Text)>();
        for (var b = 0; b < bases.Count; b++)
        {
            variants.Add(("spacing changed", b, bases[b].Replace(" ", random.Next(2) == 0 ? "  " : " \n")));
            variants.Add(("case and punctuation changed", b, bases[b].ToLowerInvariant().Replace(".", " !")));
            variants.Add(("boilerplate added", b, bases[b] + " Posted by the operations team; see the wiki for details."));
            variants.Add(("1 word changed", b, ChangeWords(bases[b], 1, random)));
            variants.Add(("3 words changed", b, ChangeWords(bases[b], 3, random)));
            variants.Add(("last sentence dropped", b, bases[b][..(bases[b].TrimEnd('.').LastIndexOf('.') + 1)]));
        }
        for (var u = 0; u < passages; u++) variants.Add(("unrelated", -1, Passage(random, 3)));

        var baseVectors = await embedder.EmbedAllAsync(bases);
        var variantVectors = await embedder.EmbedAllAsync(variants.Select(v => v.Text).ToList());
        var tokens = variants.Select(v => embedder.Tokens(v.Text)).ToList();
        var baseFingerprints = bases.Select(SimHash.Of).ToList();

        var report = new StringBuilder();
        report.AppendLine($"# Near-duplicate reuse: error and work saved per threshold — {DateTime.UtcNow:yyyy-MM-dd}");
        report.AppendLine();
        report.AppendLine($"Machine: {Environment.ProcessorCount} cores. Command: `dotnet run --project tools/Embedding.Bench -c Release -- neardup {modelDirectory} {output}`.");
        report.AppendLine($"Model: `{source}`{(Directory.Exists(source) && File.Exists(Path.Combine(modelDirectory, "reference.json")) ? " — the TINY TEST MODEL (random weights): its cosines show how far vectors move, not how a trained model's meaning moves; run the same command on the real export for that" : "")}.");
        report.AppendLine($"Corpus (seed 20261125): {bases.Count} base passages (3 sentences each) cached first; then {variants.Count} texts: per passage 6 variants, plus {passages} unrelated passages.");
        report.AppendLine("Reuse: SimHash over character 4-grams of the normalised text (`Api:Cache:NearDuplicates`); a variant takes the vector of the closest cached passage within the threshold.");
        report.AppendLine();
        report.AppendLine("| max distance (bits) | variants reused | tokens not embedded | cosine reused vs own: mean | p5 | min | reused from another passage |");
        report.AppendLine("|---|---|---|---|---|---|---|");
        var perKind = new Dictionary<int, Dictionary<string, (int Reused, int Total)>>();
        foreach (var threshold in new[] { 0, 1, 2, 3, 4, 6, 8 })
        {
            var cosines = new List<double>();
            long savedTokens = 0;
            var wrong = 0;
            var kinds = perKind[threshold] = variants.Select(v => v.Kind).Distinct().ToDictionary(k => k, _ => (0, 0));
            for (var v = 0; v < variants.Count; v++)
            {
                var fingerprint = SimHash.Of(variants[v].Text);
                var best = Enumerable.Range(0, bases.Count).Select(b => (b, d: SimHash.Distance(fingerprint, baseFingerprints[b])))
                    .Where(x => x.d <= threshold).OrderBy(x => x.d).Select(x => (int?)x.b).FirstOrDefault();
                var (reusedCount, total) = kinds[variants[v].Kind];
                kinds[variants[v].Kind] = (reusedCount + (best is null ? 0 : 1), total + 1);
                if (best is not { } match) continue;
                cosines.Add(VectorMath.Cosine(baseVectors[match], variantVectors[v]));
                savedTokens += tokens[v];
                if (match != variants[v].Base) wrong++;
            }
            cosines.Sort();
            var reused = cosines.Count;
            report.AppendLine($"| {threshold} | {reused} / {variants.Count} ({100.0 * reused / variants.Count:F1} %) | {100.0 * savedTokens / tokens.Sum():F1} % | " +
                              (reused == 0 ? "– | – | – " : $"{cosines.Average():F4} | {cosines[(int)(0.05 * (reused - 1))]:F4} | {cosines[0]:F4} ") + $"| {wrong} |");
        }
        report.AppendLine();
        report.AppendLine("Variants reused, by kind and threshold:");
        report.AppendLine();
        var kindNames = perKind[0].Keys.ToList();
        report.AppendLine("| max distance | " + string.Join(" | ", kindNames) + " |");
        report.AppendLine("|---|" + string.Concat(kindNames.Select(_ => "---|")));
        foreach (var (threshold, kinds) in perKind)
            report.AppendLine($"| {threshold} | " + string.Join(" | ", kindNames.Select(k => $"{kinds[k].Reused}/{kinds[k].Total}")) + " |");
        report.AppendLine();
        var own = variants.Select((v, i) => (v, i)).Where(x => x.v.Base >= 0).GroupBy(x => x.v.Kind)
            .Select(g => $"{g.Key} {g.Average(x => VectorMath.Cosine(baseVectors[x.v.Base], variantVectors[x.i])):F4}");
        report.AppendLine($"For scale, mean cosine of each variant to its own base passage: {string.Join("; ", own)}.");
        await File.WriteAllTextAsync(output, report.ToString());
        Console.WriteLine(report);
    }

    /// <summary>Vectors from the ONNX backend in process, or from an endpoint (token counts then estimated as 4 characters each).</summary>
    private sealed class Embedder(OnnxQwen3Backend? backend, HttpClient? http, string? model) : IDisposable
    {
        public static Embedder For(string source)
        {
            if (!source.StartsWith("http", StringComparison.OrdinalIgnoreCase)) return new(new OnnxQwen3Backend(source, new OnnxBackendOptions()), null, null);
            var uri = new Uri(source);
            var target = source.Split('#')[0];
            if (!uri.IsLoopback) throw new ArgumentException("Benchmarks target loopback only; forward a port to reach a deployment.");
            return new(null, new HttpClient { BaseAddress = new Uri(target), Timeout = TimeSpan.FromMinutes(10) }, uri.Fragment.TrimStart('#'));
        }

        public int Tokens(string text) => backend?.Tokenize(text, truncate: true).TokenCount ?? Math.Max(1, text.Length / 4);

        public async Task<List<float[]>> EmbedAllAsync(List<string> texts)
        {
            var vectors = new List<float[]>();
            foreach (var chunk in texts.Chunk(16))
            {
                if (backend is not null)
                {
                    vectors.AddRange(await backend.EmbedAsync(chunk.Select(t => backend.Tokenize(t, truncate: true)).ToList(), CancellationToken.None));
                    continue;
                }
                var response = await http!.PostAsJsonAsync("", new { model, input = chunk });
                response.EnsureSuccessStatusCode();
                using var json = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStreamAsync());
                vectors.AddRange(json.RootElement.GetProperty("data").EnumerateArray()
                    .Select(d => d.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray()));
            }
            return vectors;
        }

        public void Dispose()
        {
            backend?.Dispose();
            http?.Dispose();
        }
    }

    private static string Passage(Random r, int sentences) => string.Join(" ", Enumerable.Range(0, sentences).Select(_ =>
        $"{Pick(r, Subjects)} {Pick(r, Verbs)} {Pick(r, Objects)} {Pick(r, Tails)}."));

    private static string ChangeWords(string text, int count, Random r)
    {
        var words = text.Split(' ');
        foreach (var i in Enumerable.Range(0, words.Length).OrderBy(_ => r.Next()).Take(count)) words[i] = Pick(r, Swaps) + (words[i].EndsWith('.') ? "." : "");
        return string.Join(' ', words);
    }

    private static string Pick(Random r, string[] items) => items[r.Next(items.Length)];
}
