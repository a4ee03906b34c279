using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Embedding.Tests.Infrastructure;
using static Embedding.Tests.Infrastructure.ApiReplicas;

namespace Embedding.Tests;

/// <summary>
/// Batch jobs across API replicas that are real OS processes (the built Embedding.Api) sharing one PostgreSQL database,
/// one file directory, Redis and RabbitMQ, with fake-backend workers: a job made through one replica is read, cancelled
/// and downloaded through another; the replica running a job is killed (SIGKILL) and another finishes it with every
/// line once; PostgreSQL restarts under a job and nothing is lost.
/// </summary>
public sealed class MultiReplicaBatchTests
{
    [Fact]
    public async Task A_batch_created_through_one_replica_is_read_cancelled_and_downloaded_through_another()
    {
        await using var replicas = await ApiReplicas.StartAsync(apis: 2, workerDelayMilliseconds: 100, await PostgresDatabase.CreateAsync());
        var (a, b) = (replicas.Apis[0].Client, replicas.Apis[1].Client);

        // Uploaded through a: b lists it, describes it and reads its bytes (one record, one shared file).
        var input = string.Join("\n", Enumerable.Range(0, 30).Select(i => BatchTests.Line($"r-{i}", replicas.Model, $"shared replica text {i}"))) + "\n";
        var fileId = await BatchTests.UploadAsync(a, input);
        Assert.Equal(input, await b.GetStringAsync($"/v1/files/{fileId}/content"));
        Assert.Contains((await b.GetFromJsonAsync<JsonElement>("/v1/files")).GetProperty("data").EnumerateArray(), f => f.GetProperty("id").GetString() == fileId);

        // Created through b, followed and downloaded through a; b downloads the same bytes.
        var id = (await BatchTests.CreateBatchAsync(b, fileId)).GetProperty("id").GetString()!;
        Assert.Equal(id, (await a.GetFromJsonAsync<JsonElement>("/v1/batches")).GetProperty("data")[0].GetProperty("id").GetString());
        var done = await WaitForAsync(a, id, j => j.GetProperty("status").GetString() == "completed", TimeSpan.FromSeconds(90));
        Assert.Equal(30, done.GetProperty("request_counts").GetProperty("completed").GetInt32());
        var output = done.GetProperty("output_file_id").GetString()!;
        Assert.Equal(Enumerable.Range(0, 30).Select(i => $"r-{i}"), await CustomIdsAsync(b, output));
        Assert.Equal(await a.GetStringAsync($"/v1/files/{output}/content"), await b.GetStringAsync($"/v1/files/{output}/content"));

        // A long job created through a, cancelled through whichever replica does not run it, seen cancelled through the other.
        var slow = await BatchTests.UploadAsync(a, string.Join("\n", Enumerable.Range(0, 300).Select(i => BatchTests.Line($"c-{i}", replicas.Model, $"to be cancelled {i}"))));
        var job = (await BatchTests.CreateBatchAsync(a, slow)).GetProperty("id").GetString()!;
        await WaitForAsync(b, job, j => Done(j) >= 4, TimeSpan.FromSeconds(60));
        var (holder, _) = await replicas.HolderOfAsync(job);
        Assert.NotNull(holder);
        var other = replicas.Apis.Single(r => r != holder);
        var cancel = await other.Client.PostAsync($"/v1/batches/{job}/cancel", null);
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Assert.Contains((await cancel.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString(), new[] { "cancelling", "cancelled" });
        var cancelled = await WaitForAsync(holder!.Client, job, j => j.GetProperty("status").GetString() == "cancelled", TimeSpan.FromSeconds(60));
        var completed = cancelled.GetProperty("request_counts").GetProperty("completed").GetInt32();
        Assert.InRange(completed, 4, 299);
        Assert.Equal(Enumerable.Range(0, completed).Select(i => $"c-{i}"), await CustomIdsAsync(other.Client, cancelled.GetProperty("output_file_id").GetString()!));
    }

    [Fact]
    public async Task Killing_the_replica_that_runs_a_job_lets_another_finish_it_with_every_line_exactly_once()
    {
        // Checkpoints a second apart: when the replica dies, dozens of lines are answered and written past the last one.
        await using var replicas = await ApiReplicas.StartAsync(apis: 2, workerDelayMilliseconds: 40, await PostgresDatabase.CreateAsync(),
            api: new() { ["Api:Batches:CheckpointMilliseconds"] = "1000" });
        const int lines = 300;
        // 16 texts a line (about 20 KB of output each): what was answered since the last checkpoint is well past the file
        // stream's buffer, so it is on disk when the replica dies, and the next lease must drop it.
        var file = await BatchTests.UploadAsync(replicas.Apis[0].Client, string.Join("\n", Enumerable.Range(0, lines).Select(i =>
            BatchTests.Line($"k-{i}", replicas.Model, [.. Enumerable.Range(0, 16).Select(t => $"survives a replica {i}.{t}")]))));
        var id = (await BatchTests.CreateBatchAsync(replicas.Apis[0].Client, file)).GetProperty("id").GetString()!;

        var progress = await WaitForAsync(replicas.Apis[1].Client, id, j => Done(j) >= 60, TimeSpan.FromSeconds(60));
        Assert.True(Done(progress) < lines, "the job finished before the kill; slow the fake backend down");
        // Answers past the last checkpoint are on disk (beyond the stream's buffer) when the replica dies: the next lease must drop them.
        await TestEnvironment.WaitUntilAsync(async () => await replicas.OutputBytesAsync(id) is var (committed, onDisk) && onDisk > committed + 100_000,
            TimeSpan.FromSeconds(30), 20);
        var (doomed, lease) = await replicas.HolderOfAsync(id);
        Assert.NotNull(doomed);
        await doomed!.KillAsync();  // SIGKILL: no checkpoint, no lease freed, lines in flight abandoned
        var survivor = replicas.Apis.Single(r => r != doomed);
        Assert.True(Done(await survivor.Client.GetFromJsonAsync<JsonElement>($"/v1/batches/{id}")) < lines);

        var done = await WaitForAsync(survivor.Client, id, j => j.GetProperty("status").GetString() == "completed", TimeSpan.FromSeconds(120));
        Assert.Equal(lines, done.GetProperty("request_counts").GetProperty("completed").GetInt32());
        Assert.Equal(0, done.GetProperty("request_counts").GetProperty("failed").GetInt32());
        Assert.Equal(Enumerable.Range(0, lines).Select(i => $"k-{i}"), await CustomIdsAsync(survivor.Client, done.GetProperty("output_file_id").GetString()!));
        var (finisher, finalLease) = await replicas.HolderOfAsync(id);
        Assert.Same(survivor, finisher);  // taken over, not resumed by a ghost
        Assert.True(finalLease > lease);
    }

    [Fact]
    public async Task A_PostgreSQL_restart_during_a_job_delays_it_and_loses_nothing()
    {
        await using var server = await PostgresServer.StartAsync();
        await using var replicas = await ApiReplicas.StartAsync(apis: 2, workerDelayMilliseconds: 40, await PostgresDatabase.CreateAsync(server: server.ConnectionString),
            api: new() { ["Api:Batches:CheckpointMilliseconds"] = "1000" });
        const int lines = 200;
        var http = replicas.Apis[0].Client;
        var file = await BatchTests.UploadAsync(http, string.Join("\n", Enumerable.Range(0, lines).Select(i => BatchTests.Line($"p-{i}", replicas.Model, $"survives a database restart {i}"))));
        var id = (await BatchTests.CreateBatchAsync(http, file)).GetProperty("id").GetString()!;
        await WaitForAsync(http, id, j => Done(j) >= 40, TimeSpan.FromSeconds(60));

        await server.StopAsync();
        // Meanwhile a read answers with a clear 503 (never a 500), and the job waits at its last checkpoint.
        var response = await http.GetAsync($"/v1/batches/{id}");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("service_unavailable", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
        Assert.NotNull(response.Headers.RetryAfter);
        await TestEnvironment.WaitUntilAsync(() => replicas.Logs.Contains("the job database is unreachable", StringComparison.Ordinal)
                                                  || replicas.Logs.Contains("Could not read the batch job database", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        await server.StartAgainAsync();

        var done = await WaitForAsync(http, id, j => j.GetProperty("status").GetString() == "completed", TimeSpan.FromSeconds(120));
        Assert.Equal(lines, done.GetProperty("request_counts").GetProperty("completed").GetInt32());
        Assert.Equal(Enumerable.Range(0, lines).Select(i => $"p-{i}"), await CustomIdsAsync(replicas.Apis[1].Client, done.GetProperty("output_file_id").GetString()!));
    }
}
