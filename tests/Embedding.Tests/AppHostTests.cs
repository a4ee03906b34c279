using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Embedding.Contracts;
using Embedding.Tests.Infrastructure;

namespace Embedding.Tests;

/// <summary>
/// The real AppHost with local processes (no containers). Each test gives its Redis, RabbitMQ and PostgreSQL ports no
/// other test uses, and the classes that start an AppHost share one collection (<see cref="AppHosts"/>).
/// </summary>
[Collection(nameof(AppHosts))]
public sealed class AppHostTests
{
    /// <summary>
    /// The real AppHost, as `dotnet run` starts it where no container engine runs: local redis-server and
    /// rabbitmq-server processes (on ports of this test's own), the API, and the tiny-model worker at zero
    /// replicas. A request wakes a worker (the local autoscaler reads the real queue), gets the reference vector,
    /// and after the cooldown the worker is stopped again: replicas 0 -> 1 -> 0, as the dashboard shows them.
    /// </summary>
    [Fact]
    public async Task AppHost_scales_a_worker_from_zero_answers_and_returns_to_zero()
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Embedding_AppHost>(
            ["--Embedding:UseContainers=false", "--Embedding:LocalRedisPort=36479", "--Embedding:LocalRabbitMqPort=35772",
             "--Embedding:LocalPostgresPort=35532",
             "--Embedding:Scaling:CooldownSeconds=3", "--Embedding:Scaling:StartupSeconds=3", "--Embedding:Scaling:PollingIntervalSeconds=1"]);
        await using var app = await builder.BuildAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var replicas = new ReplicaStates(app.ResourceNotifications, "worker-qwen3-embedding-tiny-test", timeout.Token);
        await app.StartAsync(timeout.Token);
        await app.ResourceNotifications.WaitForResourceHealthyAsync("api", timeout.Token);

        await TestEnvironment.WaitUntilAsync(() => replicas.Seen, TimeSpan.FromMinutes(1));  // the worker resource has reported
        Assert.Equal(0, replicas.Running);  // nothing runs until work arrives
        using var http = app.CreateHttpClient("api");
        var reference = ReferenceData.Load().Embeddings[0];
        var response = await http.PostAsJsonAsync("/v1/embeddings", new { model = "qwen3-embedding-tiny-test", input = reference.Text }, timeout.Token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>(timeout.Token);
        var vector = json.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
        Assert.True(VectorMath.Cosine(vector, reference.Embedding) >= 0.9999);
        Assert.True(replicas.PeakRunning >= 1);
        var models = await http.GetFromJsonAsync<JsonElement>("/v1/models", timeout.Token);
        Assert.Equal("qwen3-embedding-tiny-test", models.GetProperty("data")[0].GetProperty("id").GetString());

        await TestEnvironment.WaitUntilAsync(() => replicas.Running == 0, TimeSpan.FromMinutes(2));  // the cooldown passes, the worker is stopped
    }

    /// <summary>
    /// A reranker tier scales as an embedding tier does: the real AppHost (local servers on this test's own ports), the
    /// tiny reranker tier's worker at zero replicas; a /v1/rerank request waits on the tier's queue, the local autoscaler
    /// sees it there and starts a worker, which scores the pairs with the ONNX model (the official reference scores,
    /// best first); after the cooldown the worker is stopped again: 0 -> 1 -> 0.
    /// </summary>
    [Fact]
    public async Task AppHost_scales_a_reranker_tier_from_zero_answers_and_returns_to_zero()
    {
        const string worker = "worker-qwen3-reranker-tiny-test";
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Embedding_AppHost>(
            ["--Embedding:UseContainers=false", "--Embedding:LocalRedisPort=36779", "--Embedding:LocalRabbitMqPort=36072",
             "--Embedding:LocalPostgresPort=35632",
             "--Embedding:Scaling:CooldownSeconds=3", "--Embedding:Scaling:StartupSeconds=3", "--Embedding:Scaling:PollingIntervalSeconds=1"]);
        await using var app = await builder.BuildAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var replicas = new ReplicaStates(app.ResourceNotifications, worker, timeout.Token);
        await app.StartAsync(timeout.Token);
        await app.ResourceNotifications.WaitForResourceHealthyAsync("api", timeout.Token);

        await TestEnvironment.WaitUntilAsync(() => replicas.Seen, TimeSpan.FromMinutes(1));
        Assert.Equal(0, replicas.Running);  // nothing runs until a rerank request arrives
        // The official scoring's pairs for one query, the model's default instruction, nothing cut.
        var cases = RerankerTests.Cases.Where(c => c.Instruction is null && c.MaxLength == 8192 && c.Query == RerankerTests.Cases[0].Query).ToList();
        Assert.True(cases.Count >= 2);
        using var http = app.CreateHttpClient("api");
        var response = await http.PostAsJsonAsync("/v1/rerank",
            new { model = "qwen3-reranker-tiny-test", query = cases[0].Query, documents = cases.Select(c => c.Document).ToArray() }, timeout.Token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var results = (await response.Content.ReadFromJsonAsync<JsonElement>(timeout.Token)).GetProperty("results").EnumerateArray()
            .Select(r => (Index: r.GetProperty("index").GetInt32(), Score: r.GetProperty("relevance_score").GetDouble())).ToList();
        Assert.Equal(cases.Count, results.Count);
        foreach (var (index, score) in results) Assert.InRange(score, cases[index].Score - 1e-4, cases[index].Score + 1e-4);
        Assert.Equal(cases.Select((c, i) => (c.Score, i)).OrderByDescending(x => x.Score).Select(x => x.i), results.Select(r => r.Index));
        Assert.True(replicas.PeakRunning >= 1);

        await TestEnvironment.WaitUntilAsync(() => replicas.Running == 0, TimeSpan.FromMinutes(2));  // the cooldown passes, the worker is stopped
    }

    /// <summary>
    /// The real model's tier, where its hub cannot be reached (as on CI): the model-{tier} resource fails and says why
    /// in its state and console, and a request to the tier wakes a worker that answers 503 model_unavailable with the
    /// reason at once, instead of the caller waiting for a timeout.
    /// </summary>
    [Fact]
    public async Task Offline_the_real_model_tier_says_why_in_the_dashboard_and_answers_model_unavailable()
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Embedding_AppHost>(
            ["--Embedding:UseContainers=false", "--Embedding:LocalRedisPort=36579", "--Embedding:LocalRabbitMqPort=35872",
             "--Embedding:LocalPostgresPort=35732",
             $"--Embedding:HubEndpoint=http://127.0.0.1:{TestEnvironment.ClosedPort()}",
             "--Embedding:Scaling:StartupSeconds=3", "--Embedding:Scaling:PollingIntervalSeconds=1"]);
        await using var app = await builder.BuildAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        await app.StartAsync(timeout.Token);

        var download = await app.ResourceNotifications.WaitForResourceAsync("model-qwen3-embedding-0-6b",
            e => e.Snapshot.ExitCode is not null, timeout.Token);
        Assert.Equal(1, download.Snapshot.ExitCode);

        await app.ResourceNotifications.WaitForResourceHealthyAsync("api", timeout.Token);
        using var http = app.CreateHttpClient("api");
        var response = await http.PostAsJsonAsync("/v1/embeddings", new { model = "Qwen/Qwen3-Embedding-0.6B", input = "hello" }, timeout.Token);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<JsonElement>(timeout.Token)).GetProperty("error");
        Assert.Equal("model_unavailable", error.GetProperty("code").GetString());
        Assert.Contains("Qdrant/Qwen3-Embedding-0.6B-onnx", error.GetProperty("message").GetString());
    }

    /// <summary>The states of one resource's replicas (each replica is its own resource id).</summary>
    private sealed class ReplicaStates
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string?> _states = new();
        public int PeakRunning { get; private set; }

        /// <summary>At least one state of the resource has been reported (before that, "none running" proves nothing).</summary>
        public bool Seen => !_states.IsEmpty;
        public int Running => _states.Values.Count(s => s == KnownResourceStates.Running || s == KnownResourceStates.Starting);

        public ReplicaStates(ResourceNotificationService notifications, string resource, CancellationToken ct) =>
            _ = Task.Run(async () =>
            {
                await foreach (var e in notifications.WatchAsync(ct))
                {
                    if (e.Resource.Name != resource) continue;
                    _states[e.ResourceId] = e.Snapshot.State?.Text;
                    PeakRunning = Math.Max(PeakRunning, Running);
                }
            }, ct);
    }

    /// <summary>aspire-manifest.json must be what the AppHost publishes now: regenerate it when this fails.</summary>
    [Fact]
    public async Task Committed_manifest_matches_what_the_apphost_publishes()
    {
        var expected = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(TestEnvironment.RepoRoot, "aspire-manifest.json")));
        var actual = await PublishManifestAsync();

        Assert.True(JsonNode.DeepEquals(expected, actual),
            "aspire-manifest.json is stale. Regenerate it: dotnet run --project src/Embedding.AppHost -- --publisher manifest --output-path ../../aspire-manifest.json");
    }

    /// <summary>With a GPU switched on, each GPU tier is an SGLang engine plus a worker that talks to it.</summary>
    [Fact]
    public async Task Gpu_tiers_publish_an_sglang_engine_and_a_worker_each()
    {
        var resources = (await PublishManifestAsync("--Embedding:Gpu:Enabled=true"))!["resources"]!;
        var plan = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(TestEnvironment.RepoRoot, "infra", "tier-plan.json")))!;

        foreach (var (tier, model, dims) in new[] { ("0-6b", "Qwen/Qwen3-Embedding-0.6B", 1024), ("4b", "Qwen/Qwen3-Embedding-4B", 2560), ("8b", "Qwen/Qwen3-Embedding-8B", 4096) })
        {
            var engine = resources[$"sglang-qwen3-embedding-{tier}"]!;
            Assert.StartsWith("lmsysorg/sglang:", engine["image"]!.GetValue<string>());
            var args = engine["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();
            Assert.Equal(model, args[args.IndexOf("--model-path") + 1]);
            Assert.Contains("--is-embedding", args);
            Assert.Equal("bfloat16", args[args.IndexOf("--dtype") + 1]);
            // The one description of the engine's command line, which infra/tier-plan.json carries to Azure's scale unit.
            Assert.Equal(new[] { "-m", "sglang.launch_server" }, args.Take(2));
            Assert.Equal(plan["tiers"]![model.Replace("Qwen/Qwen3-Embedding-", "qwen3-embedding-").ToLowerInvariant()]!["bf16"]!["engineArgs"]!.GetValue<string>(),
                         string.Join(' ', args.Skip(2)));
            Assert.Equal(30000, engine["bindings"]!["http"]!["targetPort"]!.GetValue<int>());

            var env = resources[$"worker-qwen3-embedding-{tier}"]!["env"]!;
            Assert.Equal("OpenAI", env["Worker__Backend"]!.GetValue<string>());
            Assert.Equal($"{{sglang-qwen3-embedding-{tier}.bindings.http.url}}", env["Worker__OpenAI__BaseUrl"]!.GetValue<string>());
            Assert.Equal(model, env["Worker__OpenAI__Model"]!.GetValue<string>());
            Assert.Equal(dims.ToString(), env["Worker__OpenAI__Dimensions"]!.GetValue<string>());
            // The scale unit's worker gets the same options (its engine at 127.0.0.1 in the same container, not a binding).
            var unit = plan["tiers"]!.AsObject().Single(t => t.Value!["app"]!.GetValue<string>() == $"worker-qwen3-embedding-{tier}").Value!;
            foreach (var pair in unit["bf16"]!["worker"]!.AsArray().Where(p => p!["name"]!.GetValue<string>() != "Worker__OpenAI__BaseUrl"))
                Assert.Equal(pair!["value"]!.GetValue<string>(), env[pair["name"]!.GetValue<string>()]!.GetValue<string>());
        }
        // The CUDA tier: a worker with its ONNX export on CUDA, no engine.
        var cuda = resources["worker-qwen3-embedding-4b-cuda"]!["env"]!;
        Assert.Equal(("Onnx", "Cuda"), (cuda["Worker__Backend"]!.GetValue<string>(), cuda["Worker__Onnx__Device"]!.GetValue<string>()));
        Assert.Null(resources["sglang-qwen3-embedding-4b-cuda"]);
        var api = resources["api"]!["env"]!;
        var served = Enumerable.Range(0, 9).Select(i => api[$"Api__Models__{i}__Name"]!.GetValue<string>()).ToList();
        Assert.Equal(["qwen3-embedding-tiny-test", "qwen3-embedding-tiny-test-int8", "qwen3-embedding-0.6b", "qwen3-embedding-4b", "qwen3-embedding-8b", "qwen3-embedding-4b-cuda",
                      "qwen3-reranker-tiny-test", "qwen3-reranker-0.6b", "qwen3-reranker-4b"], served);
        Assert.Null(api["Api__Models__9__Name"]);
        // Reranker tiers are listed with their kind and run workers that score pairs; the 4B one on CUDA, no engine.
        Assert.Equal(["Reranker", "Reranker", "Reranker"], Enumerable.Range(6, 3).Select(i => api[$"Api__Models__{i}__Kind"]!.GetValue<string>()));
        Assert.Null(api["Api__Models__5__Kind"]);  // an embedding tier: the default kind
        var reranker = resources["worker-qwen3-reranker-4b"]!["env"]!;
        Assert.Equal(("Reranker", "Cuda"), (reranker["Worker__Kind"]!.GetValue<string>(), reranker["Worker__Onnx__Device"]!.GetValue<string>()));
        Assert.Null(resources["sglang-qwen3-reranker-4b"]);
        Assert.Equal("onnx:qwen3-embedding-4b-cuda/model.onnx", api["Api__Models__5__Numerics"]!.GetValue<string>());
        Assert.Equal("Qwen/Qwen3-Embedding-4B", api["Api__Models__3__Aliases__0"]!.GetValue<string>());
        // Batch jobs in the PostgreSQL server every API replica reaches (its data on a volume).
        Assert.Equal("{postgres.connectionString}", api["ConnectionStrings__batches"]!.GetValue<string>());
        Assert.Equal("postgres-data", resources["postgres"]!["volumes"]![0]!["name"]!.GetValue<string>());
    }

    private static async Task<JsonNode?> PublishManifestAsync(params string[] settings)
    {
        // Written next to the committed one: project paths in a manifest are relative to its folder.
        var fresh = Path.Combine(TestEnvironment.RepoRoot, $".manifest-check-{Guid.NewGuid():N}.json");
        try
        {
            await AppHostPublisher.PublishAsync("manifest", fresh, settings);
            return JsonNode.Parse(await File.ReadAllTextAsync(fresh));
        }
        finally
        {
            File.Delete(fresh);
        }
    }
}

/// <summary>Test classes that start the real AppHost: one at a time, since each starts servers, an API and workers.</summary>
[CollectionDefinition(nameof(AppHosts))]
public sealed class AppHosts;
