using System.Net;
using System.Net.Http.Json;
using Embedding.Tests.Infrastructure;
using Embedding.Worker.Backends;
using Microsoft.Extensions.DependencyInjection;

namespace Embedding.Tests;

/// <summary>
/// What a user sees in the dashboard, checked where it arrives: the API and a worker export over OTLP (as they do to the
/// Aspire dashboard) to a collector in the test, and every span, attribute, link, metric and log listed for users is there.
/// Runs alone: OpenTelemetry's meter provider subscribes by meter name across the process, and where another test's host
/// already has an instrument of the same name, it exports that one and drops this host's as a duplicate (one host per
/// process in production, so only tests see this).
/// </summary>
[Collection(nameof(RunsAlone))]
public sealed class TelemetryExportTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private const int FakeDelayMilliseconds = 1500;

    [Fact]
    public async Task Requests_export_one_linked_trace_each_the_metrics_per_tier_and_logs_with_trace_ids()
    {
        await using var collector = new OtlpCollector();
        var api = collector.ExporterSettings("embedding-api");
        api["Api:QueueMetricsSeconds"] = "1";
        api["Logging:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics"] = "Information";
        var worker = collector.ExporterSettings("embedding-worker");
        worker["Worker:Fake:DelayMilliseconds"] = FakeDelayMilliseconds.ToString();  // each batch holds the worker this long
        await using var stack = new EmbeddingStack(backend: "Fake", api: api, worker: worker);

        // A first request occupies the worker; the three sent while it runs pile up and share the next batch.
        var batcher = stack.WorkerServices(0).GetRequiredService<Embedding.Worker.Batching.TokenBudgetBatcher>();
        var occupier = stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "occupier" });
        await TestEnvironment.WaitUntilAsync(() => batcher.Running == 1, Patience);
        var secrets = Enumerable.Range(0, 3).Select(i => $"private text {i} {Guid.NewGuid()}").ToArray();
        // The FAKE backend counts tokens by TokenEstimate, so every count below is exact: the secrets are all one length.
        var secretTokens = TokenEstimate.Count(secrets[0]);
        var occupierTokens = TokenEstimate.Count("occupier");
        var responses = await Task.WhenAll(secrets.Select(text => stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = text })).Append(occupier));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(HttpStatusCode.OK, (await stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = secrets[0] })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = "no-such-model", input = "x" })).StatusCode);

        // Traces. Each request is one trace rooted at its HTTP server span; in-process hosts may export a span twice: one per id.
        OtlpSpan[] Ours() => collector.Spans.Where(s => s.Kind == 2 && Equals(s["embedding.model"], stack.Model)).DistinctBy(s => s.SpanId).ToArray();
        await TestEnvironment.WaitUntilAsync(() =>
        {
            var roots = Ours().Select(s => s.TraceId).ToHashSet();
            return roots.Count == 5 && collector.Spans.Any(s => s.Name == "embed batch" && roots.Contains(s.TraceId) && s.Links.Count == 3);
        }, Patience);
        var spans = collector.Spans.GroupBy(s => s.SpanId).Select(g => g.First()).ToDictionary(s => s.SpanId);
        var batch = spans.Values.Single(s => s.Name == "embed batch" && s.Links.Count == 3 && Ours().Any(r => r.TraceId == s.TraceId));

        var root = Ours().Single(r => r.TraceId == batch.TraceId);
        Assert.Equal("", root.ParentSpanId);
        Assert.Equal(1L, root["embedding.inputs"]);
        Assert.Equal(0L, root["embedding.cache.hits"]);
        Assert.Equal((long)secretTokens, root["embedding.usage.tokens"]);
        Assert.Contains(spans.Values, s => s.Name == "cache lookup" && s.ParentSpanId == root.SpanId);

        // The batch hangs off its first request's trace, through the queue: producer (API) -> consumer (worker).
        var chain = new List<OtlpSpan>();
        for (var s = batch; s.ParentSpanId != ""; s = spans[s.ParentSpanId]) chain.Add(spans[s.ParentSpanId]);
        Assert.Equal(root.SpanId, chain[^1].SpanId);
        Assert.Contains(chain, s => s.Kind == 4);  // producer: sent to RabbitMQ
        Assert.Contains(chain, s => s.Kind == 5);  // consumer: taken by the worker
        Assert.All(chain.Append(batch), s => Assert.Equal(root.TraceId, s.TraceId));

        var batchId = (string)batch["embedding.batch.id"]!;
        Assert.Equal(3L, batch["embedding.batch.size"]);
        Assert.Equal(3L * secretTokens, batch["embedding.batch.tokens"]);
        Assert.Equal("Fake", batch["embedding.backend"]);
        Assert.True((double)batch["embedding.backend.duration_ms"]! >= FakeDelayMilliseconds);  // the FAKE backend pays its delay on every call
        Assert.True((double)batch["embedding.batch.wait_ms"]! >= 0);

        // Linked: each request the batch served, at the worker span that names this batch, with its queue wait and tokens.
        var served = batch.Links.Select(l => spans[l.SpanId]).ToList();
        Assert.Equal(3, served.Select(s => s.TraceId).Distinct().Count());
        Assert.All(served, s =>
        {
            Assert.Equal(batchId, s["embedding.batch.ids"]);
            Assert.Equal(stack.Model, s["embedding.model"]);
            Assert.True((double)s["embedding.queue.wait_ms"]! >= 0);
            Assert.Equal((long)secretTokens, s["embedding.tokens"]);
            Assert.Contains(Ours(), r => r.TraceId == s.TraceId);
        });
        var repeat = Ours().Single(r => !served.Any(s => s.TraceId == r.TraceId) && Equals(r["embedding.cache.hits"], 1L));
        Assert.DoesNotContain(spans.Values, s => s.TraceId == repeat.TraceId && s.Kind == 4);  // the repeated text never reached the queue

        // A batch job: each line is a trace of its own, tagged with its job; progress is counted.
        var file = await BatchTests.UploadAsync(stack.Client, string.Join("\n", Enumerable.Range(0, 3).Select(i => BatchTests.Line($"t-{i}", stack.Model, $"job text {i}"))));
        var job = await BatchTests.CreateBatchAsync(stack.Client, file);
        var jobId = job.GetProperty("id").GetString();
        await TestEnvironment.WaitUntilAsync(() => collector.Spans.Where(s => s.Name == "batch request" && Equals(s["embedding.batch_job.id"], jobId))
            .Select(s => s.TraceId).Distinct().Count() == 3, Patience);

        // Metrics: per status, per cache level, per tier (queue, batches, backend, cold start, replicas), batch-job progress.
        // Exact, as the requests above make them (sums are cumulative): the worker embedded the occupier, the three secrets
        // and the job's three lines (seven texts, however they were batched); the API served those and the cached repeat,
        // and answered seven /v1 calls with 200 (five embeddings, the upload, the batch) and one with 404.
        var jobTokens = Enumerable.Range(0, 3).Sum(i => TokenEstimate.Count($"job text {i}"));
        var embedded = occupierTokens + 3 * secretTokens + jobTokens;
        bool Has(string name, Func<OtlpMetricPoint, bool> where) => collector.Metrics.Any(p => p.Name == name && where(p));
        bool Tier(OtlpMetricPoint p) => Equals(p["embedding.model"], stack.Model);
        var expected = new (string Name, Func<OtlpMetricPoint, bool> Where)[]
        {
            ("embedding.requests", p => Equals(p["http.response.status_code"], 200L) && p.Value == 7),
            ("embedding.requests", p => Equals(p["http.response.status_code"], 404L) && Equals(p["error.type"], "model_not_found") && p.Value == 1),
            ("embedding.cache.hits", p => Equals(p["cache.level"], "l1") && p.Value == 1),
            ("embedding.cache.misses", p => Equals(p["cache.level"], "l1") && p.Value == 7),
            ("embedding.cache.misses", p => Equals(p["cache.level"], "l2") && p.Value == 7),
            ("embedding.cache.hit_ratio", p => Equals(p["cache.level"], "l1") && p.Value == 1.0 / 8),
            ("embedding.queue.depth", Tier),
            ("embedding.queue.consumers", p => Tier(p) && p.Value == 1),
            ("embedding.queue.oldest.age", Tier),
            ("embedding.batch.size", p => Tier(p) && p.Value == 7),
            ("embedding.batch.tokens", p => Tier(p) && p.Value == embedded),
            ("embedding.tokens", p => Tier(p) && p.Value == embedded),
            ("embedding.backend.duration", p => Tier(p) && p.Unit == "s" && p.Count >= 3 && p.Value >= p.Count * FakeDelayMilliseconds / 1000.0),
            ("embedding.worker.startup.duration", p => Tier(p) && p.Count == 1),
            ("embedding.worker.replicas", p => Tier(p) && p.Value == 1),
            ("embedding.usage.tokens", p => Tier(p) && p.Value == embedded + secretTokens),
            ("embedding.inputs", p => Tier(p) && p.Value == 8),
            ("embedding.batch_job.requests", p => Tier(p) && Equals(p["outcome"], "completed") && p.Value == 3),
            ("embedding.batch_jobs", p => Equals(p["embedding.batch_job.status"], "completed") && p.Value == 1),
            ("http.server.request.duration", _ => true),
        };
        string[] Missing() => expected.Where(e => !Has(e.Name, e.Where)).Select(e => e.Name).ToArray();
        try { await TestEnvironment.WaitUntilAsync(() => Missing().Length == 0, Patience); }
        catch (TimeoutException)
        {
            string Last(string name) => string.Join(" | ", collector.Metrics.Where(p => p.Name == name && (!p.Attributes.ContainsKey("embedding.model") || Tier(p)))
                .GroupBy(p => string.Join(",", p.Attributes.Select(a => $"{a.Key}={a.Value}"))).Select(g => $"{g.Key}: {g.Last().Value} ({g.Last().Count})"));
            Assert.Fail($"Not exported as expected: {string.Join("; ", Missing().Distinct().Select(m => $"{m} [{Last(m)}]"))}. Received: {string.Join(", ", collector.Metrics.Select(p => p.Name).Distinct().Order())}. " +
                        $"Requests: {string.Join(", ", collector.Received)}. Errors: {string.Join("; ", collector.DecodeErrors)}");
        }

        // Logs carry trace ids, and never the texts.
        await TestEnvironment.WaitUntilAsync(() => collector.Logs.Any(l => l.TraceId == root.TraceId), Patience);
        Assert.DoesNotContain(collector.Logs, l => secrets.Any(t => l.Body.Contains(t) || l.Attributes.Values.Any(v => v?.ToString()?.Contains(t) == true)));
        Assert.DoesNotContain(collector.Spans, s => secrets.Any(t => s.Attributes.Values.Any(v => v?.ToString()?.Contains(t) == true)));
    }
}

/// <summary>Test classes that must not share the process with other tests' hosts while they run.</summary>
[CollectionDefinition(nameof(RunsAlone), DisableParallelization = true)]
public sealed class RunsAlone;
