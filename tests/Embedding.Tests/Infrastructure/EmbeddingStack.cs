using Embedding.Api;
using Embedding.Worker;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Embedding.Tests.Infrastructure;

/// <summary>
/// The real services in-process: the API and any number of workers, talking through the real
/// RabbitMQ (and Redis, unless turned off). Each stack serves a model name of its own, hence its own
/// queue and cache keys, so tests do not see each other's traffic.
/// </summary>
public sealed class EmbeddingStack : IAsyncDisposable
{
    // A type of the worker's own assembly: the factory finds the entry point by it (WorkerOptions lives in a library).
    private readonly List<WebApplicationFactory<WorkerMetrics>> _workers = [];
    private readonly Dictionary<string, string?> _workerSettings;
    private readonly Dictionary<string, string?> _apiSettings;
    private WebApplicationFactory<EmbeddingApiOptions> _api;
    private readonly Action<IWebHostBuilder>? _configure;
    private readonly PostgresDatabase? _batchDatabase;

    public string Model { get; }
    public int Dimensions { get; }
    public HttpClient Client { get; private set; }
    public IServiceProvider ApiServices => _api.Services;
    public int WorkerCount => _workers.Count;

    public EmbeddingStack(string backend = "Onnx", string? redis = "default", int requestTimeoutSeconds = 30,
                          int workers = 1, Dictionary<string, string?>? worker = null, Dictionary<string, string?>? api = null,
                          string? model = null, Action<IWebHostBuilder>? configure = null)
    {
        _configure = configure;
        Model = model ?? NewModelName();
        Dimensions = backend == "Onnx" ? ReferenceData.Load().HiddenSize : 64;
        _workerSettings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:messaging"] = TestEnvironment.RabbitMq,
            ["Worker:Model"] = Model,
            [Enum.TryParse<StandInKind>(backend, out _) ? "Worker:StandIn" : "Worker:Backend"] = backend,
            ["Worker:Onnx:ModelPath"] = TestEnvironment.TinyModel,
            ["Worker:Onnx:IntraOpThreads"] = "1",
            ["Worker:Fake:Dimensions"] = "64",
            // No hub in tests unless a test brings one: GPU-tier workers count tokens by estimate, as offline.
            ["Worker:Hub:Endpoint"] = $"http://127.0.0.1:{TestEnvironment.ClosedPort()}",
            ["Worker:Hub:CacheDirectory"] = Path.Combine(Path.GetTempPath(), "embedding-tests", "hub-cache"),
        };
        foreach (var (k, v) in worker ?? []) _workerSettings[k] = v;

        var apiSettings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:messaging"] = TestEnvironment.RabbitMq,
            ["ConnectionStrings:cache"] = redis == "default" ? TestEnvironment.Redis : redis,
            ["Api:Models:0:Name"] = Model,
            ["Api:Models:0:Aliases:0"] = Model + "-alias",
            ["Api:Models:0:Dimensions"] = Dimensions.ToString(),
            ["Api:Models:1:Name"] = Model + "-plain",
            ["Api:Models:1:Dimensions"] = Dimensions.ToString(),
            ["Api:Models:1:Matryoshka"] = "false",
            ["Api:RequestTimeoutSeconds"] = requestTimeoutSeconds.ToString(),
            ["Api:RetryAfterSeconds"] = "7",
            ["Api:Batches:StoragePath"] = Path.Combine(Path.GetTempPath(), "embedding-tests", "batches", Model),
            ["Api:Batches:CheckpointMilliseconds"] = "20",
        };
        if (TestEnvironment.BatchStoreIsPostgres)
        {
            // One database per model: stacks sharing a model (and so a storage directory) share the job database too.
            _batchDatabase = PostgresDatabase.CreateAsync(Model).GetAwaiter().GetResult();
            apiSettings["ConnectionStrings:batches"] = _batchDatabase.ConnectionString;
        }
        foreach (var (k, v) in api ?? []) apiSettings[k] = v;
        _apiSettings = apiSettings;
        _api = new WebApplicationFactory<EmbeddingApiOptions>().WithWebHostBuilder(b => Apply(b, apiSettings));
        Client = _api.CreateClient();
        for (var i = 0; i < workers; i++) StartWorker();
    }

    /// <summary>Another client of the API, e.g. one that sends another key.</summary>
    public HttpClient NewClient(string? bearer = null)
    {
        var client = _api.CreateClient();
        if (bearer is not null) client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        return client;
    }

    public static string NewModelName() => $"test-{Guid.NewGuid():N}"[..16];

    /// <summary>Starts one more worker (its bus connects and its queue exists once this returns), optionally with settings of its own.</summary>
    public void StartWorker(Dictionary<string, string?>? settings = null)
    {
        var merged = new Dictionary<string, string?>(_workerSettings);
        foreach (var (k, v) in settings ?? []) merged[k] = v;
        var factory = new WebApplicationFactory<WorkerMetrics>().WithWebHostBuilder(b => Apply(b, merged));
        _ = factory.Services;  // builds and starts the host: model load, batcher, bus
        _workers.Add(factory);
    }

    /// <summary>Stops the newest worker the way a scale-in does: its host stops, the batcher drains, the bus stops.</summary>
    public async Task StopOneWorkerAsync()
    {
        var last = _workers[^1];
        _workers.RemoveAt(_workers.Count - 1);
        await last.DisposeAsync();
    }

    /// <summary>Stops the API the way a redeploy does (its host stops) and starts a fresh one with the same settings.</summary>
    public async Task RestartApiAsync()
    {
        Client.Dispose();
        await _api.DisposeAsync();
        _api = new WebApplicationFactory<EmbeddingApiOptions>().WithWebHostBuilder(b => Apply(b, _apiSettings));
        Client = _api.CreateClient();
    }

    public async Task StopWorkersAsync()
    {
        foreach (var w in _workers) await w.DisposeAsync();
        _workers.Clear();
    }

    public Dictionary<string, string?> WorkerSettings => new(_workerSettings);

    /// <summary>One worker's services (its batcher, its backend).</summary>
    public IServiceProvider WorkerServices(int index) => _workers[index].Services;

    /// <summary>A client of one worker's own endpoints (/health).</summary>
    public HttpClient WorkerClient(int index) => _workers[index].CreateClient();

    private void Apply(IWebHostBuilder builder, Dictionary<string, string?> settings)
    {
        builder.UseEnvironment("Testing");
        foreach (var (key, value) in settings) builder.UseSetting(key, value);
        _configure?.Invoke(builder);  // e.g. a test's own log sink, on the API and every worker
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await StopWorkersAsync();
        await _api.DisposeAsync();
        if (_batchDatabase is not null) await _batchDatabase.DisposeAsync();
    }
}
