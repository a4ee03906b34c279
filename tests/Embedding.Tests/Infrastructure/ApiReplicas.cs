using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Embedding.Worker;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Npgsql;

namespace Embedding.Tests.Infrastructure;

/// <summary>
/// API replicas as real OS processes (<see cref="ApiProcess"/>) sharing one PostgreSQL database, one batch file
/// directory, Redis and RabbitMQ, with a fake-backend worker; and what tests ask of their batch jobs (who holds a lease,
/// what a checkpoint committed, the lines of an output file). All stopped and removed when disposed.
/// </summary>
public sealed class ApiReplicas : IAsyncDisposable
{
    public const int Dimensions = 64;

    private readonly List<WebApplicationFactory<WorkerMetrics>> _workers = [];
    private readonly PostgresDatabase _database;
    private readonly string _storage;

    public string Model { get; } = EmbeddingStack.NewModelName();
    public List<ApiProcess> Apis { get; } = [];
    public Dictionary<string, string?> Settings { get; }

    private ApiReplicas(PostgresDatabase database, Dictionary<string, string?> api)
    {
        _database = database;
        _storage = Path.Combine(Path.GetTempPath(), "embedding-tests", "shared-batches", Model);
        Settings = new()
        {
            ["ConnectionStrings:messaging"] = TestEnvironment.RabbitMq,
            ["ConnectionStrings:cache"] = TestEnvironment.Redis,
            ["ConnectionStrings:batches"] = database.ConnectionString,
            ["Api:Models:0:Name"] = Model,
            ["Api:Models:0:Dimensions"] = Dimensions.ToString(),
            ["Api:Batches:StoragePath"] = _storage,
            ["Api:Batches:CheckpointMilliseconds"] = "20",
            ["Api:Batches:LeaseSeconds"] = "3",
            ["Api:Batches:ConcurrentRequestsPerJob"] = "2",
            ["Api:Batches:RequestTimeoutSeconds"] = "5",
        };
        foreach (var (k, v) in api) Settings[k] = v;
    }

    public static async Task<ApiReplicas> StartAsync(int apis, int workerDelayMilliseconds, PostgresDatabase database, Dictionary<string, string?>? api = null)
    {
        var replicas = new ApiReplicas(database, api ?? []);
        try
        {
            replicas.Apis.AddRange(await Task.WhenAll(Enumerable.Range(0, apis).Select(_ => ApiProcess.StartAsync(replicas.Settings))));
            replicas.StartWorker(workerDelayMilliseconds);
        }
        catch
        {
            await replicas.DisposeAsync();
            throw;
        }
        return replicas;
    }

    private void StartWorker(int delayMilliseconds)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:messaging"] = TestEnvironment.RabbitMq,
            ["Worker:Model"] = Model,
            ["Worker:StandIn"] = "Fake",
            ["Worker:Fake:Dimensions"] = Dimensions.ToString(),
            ["Worker:Fake:DelayMilliseconds"] = delayMilliseconds.ToString(),
            ["Worker:Hub:Endpoint"] = $"http://127.0.0.1:{TestEnvironment.ClosedPort()}",
        };
        var factory = new WebApplicationFactory<WorkerMetrics>().WithWebHostBuilder(b =>
        {
            b.UseEnvironment("Testing");
            foreach (var (k, v) in settings) b.UseSetting(k, v);
        });
        _ = factory.Services;  // starts it
        _workers.Add(factory);
    }

    /// <summary>The replica holding the job's lease now (its runner's name carries its PID), and the lease's number.</summary>
    public async Task<(ApiProcess? Holder, long Lease)> HolderOfAsync(string batchId)
    {
        await using var db = await _database.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT lease_owner, lease FROM batch_jobs WHERE id = @id", db);
        command.Parameters.AddWithValue("id", batchId);
        await using var reader = await command.ExecuteReaderAsync();
        if (!await reader.ReadAsync() || reader.IsDBNull(0)) return (null, 0);
        var pid = ApiProcess.PidOfRunner(reader.GetString(0));
        return (Apis.SingleOrDefault(a => a.Pid == pid), reader.GetInt64(1));
    }

    /// <summary>The output bytes the job's last checkpoint committed, and the most any of its work files holds on disk now.</summary>
    public async Task<(long Committed, long OnDisk)> OutputBytesAsync(string batchId)
    {
        await using var db = await _database.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT (data->>'outputBytes')::bigint FROM batch_jobs WHERE id = @id", db);
        command.Parameters.AddWithValue("id", batchId);
        var committed = (long)(await command.ExecuteScalarAsync())!;
        var work = new DirectoryInfo(Path.Combine(_storage, "work"));
        return (committed, work.Exists ? work.GetFiles($"{batchId}.output*.jsonl").Select(f => f.Length).DefaultIfEmpty(0).Max() : 0);
    }

    public string Logs => string.Join("\n\n", Apis.Select(a => $"--- API {a.Pid} ---\n{a.Output}"));

    /// <summary>The output (or error) file's lines, parsed, in file order.</summary>
    public static async Task<List<JsonElement>> LinesAsync(HttpClient http, string fileId) =>
        (await http.GetStringAsync($"/v1/files/{fileId}/content")).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

    public static async Task<List<string>> CustomIdsAsync(HttpClient http, string fileId) =>
        (await LinesAsync(http, fileId)).Select(l => l.GetProperty("custom_id").GetString()!).ToList();

    /// <summary>Polls the job until <paramref name="condition"/> holds; a 503 (the database briefly out of reach) is polled past.</summary>
    public static async Task<JsonElement> WaitForAsync(HttpClient http, string id, Func<JsonElement, bool> condition, TimeSpan timeout)
    {
        JsonElement last = default;
        await TestEnvironment.WaitUntilAsync(async () =>
        {
            var response = await http.GetAsync($"/v1/batches/{id}");
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable) return false;
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            last = await response.Content.ReadFromJsonAsync<JsonElement>();
            return condition(last);
        }, timeout, 100);
        return last;
    }

    /// <summary>Lines answered so far, completed or failed.</summary>
    public static int Done(JsonElement batch) =>
        batch.GetProperty("request_counts").GetProperty("completed").GetInt32() + batch.GetProperty("request_counts").GetProperty("failed").GetInt32();

    public async ValueTask DisposeAsync()
    {
        foreach (var api in Apis) await api.DisposeAsync();
        foreach (var worker in _workers) await worker.DisposeAsync();
        await _database.DisposeAsync();
        if (Directory.Exists(_storage)) Directory.Delete(_storage, recursive: true);
    }
}
