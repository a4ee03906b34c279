using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Embedding.Tests.Infrastructure;
using Embedding.Worker.Backends;
using static Embedding.Tests.Infrastructure.ApiReplicas;

namespace Embedding.Tests;

/// <summary>
/// An API replica killed (SIGKILL) under load: three real API processes on one PostgreSQL, Redis, RabbitMQ and worker,
/// clients sending /v1/embeddings to the two that survive, and batch jobs running, one of them on the replica that dies.
/// The survivors' clients see no error, and every job accepted (through the dead replica too, and after its death)
/// completes with every line once and its own vectors.
/// </summary>
public sealed class ReplicaFailoverTests
{
    private const int ClientsPerSurvivor = 2;

    /// <summary>
    /// A client's pause between requests, longer than the worker's batch: interactive requests overtake job lines in the
    /// worker, so clients that never paused would starve the jobs (by design) and the test would measure that instead.
    /// </summary>
    private static readonly TimeSpan ThinkTime = TimeSpan.FromMilliseconds(60);
    private const int TextsPerRequest = 3;

    /// <summary>What the clients saw: answers checked, and everything that was not a right answer.</summary>
    private sealed class Load
    {
        public int Answers;
        public readonly ConcurrentQueue<string> Failures = new();
    }

    private static string[] Texts(string job, int line) => [$"{job} line {line} first", $"{job} line {line} second"];

    private static float[] Vector(JsonElement item) => item.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();

    /// <summary>One client: new texts each request (so each goes through the queue), every answer checked, until stopped.</summary>
    private static async Task ClientAsync(HttpClient http, string model, string tag, Load load, CancellationToken stop)
    {
        for (var n = 0; !stop.IsCancellationRequested; n++)
        {
            var texts = Enumerable.Range(0, TextsPerRequest).Select(t => $"{tag} request {n} text {t}").ToArray();
            try
            {
                var response = await http.PostAsJsonAsync("/v1/embeddings", new { model, input = texts });
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != HttpStatusCode.OK) load.Failures.Enqueue($"{tag} #{n}: {(int)response.StatusCode} {body}");
                else if (IsRight(JsonDocument.Parse(body).RootElement.GetProperty("data"), texts)) Interlocked.Increment(ref load.Answers);
                else load.Failures.Enqueue($"{tag} #{n}: wrong vectors or count: {body[..Math.Min(body.Length, 300)]}");
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                load.Failures.Enqueue($"{tag} #{n}: {e.GetType().Name}: {e.Message}");
            }
            try { await Task.Delay(ThinkTime, stop); } catch (OperationCanceledException) { }
        }
    }

    /// <summary>One item per text, in order, each the text's own vector.</summary>
    private static bool IsRight(JsonElement data, string[] texts) =>
        data.GetArrayLength() == texts.Length && texts.Select((t, i) =>
            data[i].GetProperty("index").GetInt32() == i && Vector(data[i]).SequenceEqual(FakeBackend.VectorFor(t, Dimensions))).All(ok => ok);

    private static void AssertNoFailures(Load load, ApiReplicas replicas) =>
        Assert.True(load.Failures.IsEmpty, $"{load.Failures.Count} client requests to the survivors failed, the first:\n"
                                           + string.Join('\n', load.Failures.Take(5)) + "\n" + replicas.Logs[^Math.Min(replicas.Logs.Length, 4000)..]);

    private static async Task<string> StartJobAsync(HttpClient http, string model, string job, int lines)
    {
        var file = await BatchTests.UploadAsync(http, string.Join("\n", Enumerable.Range(0, lines).Select(i => BatchTests.Line($"{job}-{i}", model, Texts(job, i)))));
        return (await BatchTests.CreateBatchAsync(http, file)).GetProperty("id").GetString()!;
    }

    /// <summary>The job completed, every line once in input order, each with its own texts' vectors.</summary>
    private static async Task AssertCompleteAsync(HttpClient http, string id, string job, int lines)
    {
        var done = await WaitForAsync(http, id, j => j.GetProperty("status").GetString() is "completed" or "failed" or "expired", TimeSpan.FromSeconds(120));
        Assert.Equal("completed", done.GetProperty("status").GetString());
        Assert.Equal(lines, done.GetProperty("request_counts").GetProperty("completed").GetInt32());
        Assert.Equal(0, done.GetProperty("request_counts").GetProperty("failed").GetInt32());
        var output = await LinesAsync(http, done.GetProperty("output_file_id").GetString()!);
        Assert.Equal(Enumerable.Range(0, lines).Select(i => $"{job}-{i}"), output.Select(l => l.GetProperty("custom_id").GetString()));
        for (var i = 0; i < lines; i++)
        {
            var response = output[i].GetProperty("response");
            Assert.Equal(200, response.GetProperty("status_code").GetInt32());
            var data = response.GetProperty("body").GetProperty("data");
            Assert.Equal(Texts(job, i).Select(t => FakeBackend.VectorFor(t, Dimensions)), data.EnumerateArray().Select(Vector));
        }
    }

    [Fact]
    public async Task Killing_a_replica_under_load_fails_no_request_to_the_survivors_and_loses_no_batch_line()
    {
        await using var replicas = await ApiReplicas.StartAsync(apis: 3, workerDelayMilliseconds: 40, await PostgresDatabase.CreateAsync(),
            api: new() { ["Api:Batches:CheckpointMilliseconds"] = "500" });
        const int lines = 400;
        var jobs = new Dictionary<string, string>
        {
            ["a"] = await StartJobAsync(replicas.Apis[0].Client, replicas.Model, "a", lines),
            ["b"] = await StartJobAsync(replicas.Apis[1].Client, replicas.Model, "b", lines),
        };

        // The replica to kill is the one running job a (whichever claimed it), once the job is under way.
        await WaitForAsync(replicas.Apis[2].Client, jobs["a"], j => Done(j) >= 20, TimeSpan.FromSeconds(60));
        var (doomed, lease) = await replicas.HolderOfAsync(jobs["a"]);
        Assert.NotNull(doomed);
        var survivors = replicas.Apis.Where(r => r != doomed).ToList();

        var load = new Load();
        using var stop = new CancellationTokenSource();
        var clients = survivors.SelectMany((s, i) => Enumerable.Range(0, ClientsPerSurvivor)
            .Select(c => ClientAsync(s.Client, replicas.Model, $"survivor{i}-client{c}", load, stop.Token))).ToList();
        try
        {
            await TestEnvironment.WaitUntilAsync(() => Volatile.Read(ref load.Answers) >= 30 || !load.Failures.IsEmpty, TimeSpan.FromSeconds(60));
            AssertNoFailures(load, replicas);
            Assert.True(Done(await survivors[0].Client.GetFromJsonAsync<JsonElement>($"/v1/batches/{jobs["a"]}")) < lines,
                "job a finished before the kill; slow the fake backend down");

            await doomed!.KillAsync();  // SIGKILL: no checkpoint, no lease freed, its lines in flight abandoned
            var answersAtKill = Volatile.Read(ref load.Answers);
            // A job accepted after the death, through a survivor.
            jobs["c"] = await StartJobAsync(survivors[0].Client, replicas.Model, "c", lines / 4);

            // Every job ends while the clients keep going, and they are answered well past the kill.
            foreach (var (job, id) in jobs)
            {
                try { await WaitForAsync(survivors[0].Client, id, j => j.GetProperty("status").GetString() is "completed" or "failed" or "expired", TimeSpan.FromSeconds(120)); }
                catch (TimeoutException)
                {
                    Assert.Fail($"job {job} did not end: {await survivors[0].Client.GetStringAsync($"/v1/batches/{id}")}\nclients: {load.Answers} answers, "
                                + $"{load.Failures.Count} failures\n{replicas.Logs[^Math.Min(replicas.Logs.Length, 6000)..]}");
                }
            }
            await TestEnvironment.WaitUntilAsync(() => Volatile.Read(ref load.Answers) >= answersAtKill + 30 || !load.Failures.IsEmpty, TimeSpan.FromSeconds(60));
        }
        finally
        {
            stop.Cancel();
            await Task.WhenAll(clients);
        }

        AssertNoFailures(load, replicas);
        await AssertCompleteAsync(survivors[1].Client, jobs["a"], "a", lines);
        await AssertCompleteAsync(survivors[0].Client, jobs["b"], "b", lines);
        await AssertCompleteAsync(survivors[1].Client, jobs["c"], "c", lines / 4);
        var (finisher, finalLease) = await replicas.HolderOfAsync(jobs["a"]);
        Assert.Contains(finisher, survivors);  // taken over by a survivor, not resumed by a ghost
        Assert.True(finalLease > lease);
    }
}
