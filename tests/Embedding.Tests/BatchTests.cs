using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Embedding.Api;
using Embedding.Api.Batches;
using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Embedding.Messaging;

namespace Embedding.Tests;

/// <summary>
/// OpenAI-style batch jobs through the real stack (RabbitMQ, Redis, API, workers): a few hundred lines end to end across
/// a worker restart and an API restart, cancel, priority against interactive requests, and the error cases.
/// </summary>
public sealed class BatchTests
{
    [Fact]
    public async Task A_job_of_300_lines_completes_across_a_worker_restart_and_an_api_restart_with_nothing_lost_or_doubled()
    {
        // Fake backend (vectors are hashes of the text): what is tested is the job machinery, and a fixed delay per batch
        // keeps the job running long enough to restart things under it.
        await using var stack = new EmbeddingStack(backend: "Fake",
            worker: new() { ["Worker:Fake:DelayMilliseconds"] = "25" },
            api: new() { ["Api:Batches:ConcurrentRequestsPerJob"] = "2", ["Api:Batches:RequestTimeoutSeconds"] = "2" });
        await using var broker = new QueueInspector(TestEnvironment.RabbitMq, "batch-restart-test");
        var lines = Enumerable.Range(0, 300).Select(i => Line($"req-{i}", i % 100 == 42 ? "no-such-model" : stack.Model, $"text {i} alpha", $"text {i} beta")).ToList();
        var file = await UploadAsync(stack.Client, string.Join("\n", lines) + "\n");

        var batch = await CreateBatchAsync(stack.Client, file);
        Assert.Equal("validating", batch.GetProperty("status").GetString());
        var id = batch.GetProperty("id").GetString()!;

        var progress = await WaitForAsync(stack.Client, id, b => Done(b) >= 60);
        Assert.True(Done(progress) < 300, "the job finished before the restarts; slow the fake backend down");
        await stack.StopOneWorkerAsync();      // lines held by the worker are answered before it stops; the rest wait on the queue
        await stack.RestartApiAsync();         // the runner stops mid-job and resumes from its checkpoint
        // The gap with no worker: the resumed job's lines find no consumer, expire on the queue and are sent again.
        using (var retries = new MetricTotal(stack.ApiServices, "embedding.batch_job.retries"))
            await WaitUntilAsync(async () => retries.Value >= 1 && (await broker.PeekAsync(EmbeddingQueues.ForModel(stack.Model), default))?.Consumers == 0);
        Assert.True(Done(await GetBatchAsync(stack.Client, id)) < 300);
        stack.StartWorker();

        var done = await WaitForAsync(stack.Client, id, b => b.GetProperty("status").GetString() == "completed", TimeSpan.FromSeconds(90));
        var counts = done.GetProperty("request_counts");
        Assert.Equal(300, counts.GetProperty("total").GetInt32());
        Assert.Equal(297, counts.GetProperty("completed").GetInt32());
        Assert.Equal(3, counts.GetProperty("failed").GetInt32());

        var output = await ReadJsonlAsync(stack.Client, done.GetProperty("output_file_id").GetString()!);
        var errors = await ReadJsonlAsync(stack.Client, done.GetProperty("error_file_id").GetString()!);
        var expectedOk = Enumerable.Range(0, 300).Where(i => i % 100 != 42).Select(i => $"req-{i}").ToList();
        Assert.Equal(expectedOk, output.Select(o => o.GetProperty("custom_id").GetString()!).ToList());   // each once, in input order
        Assert.Equal(["req-42", "req-142", "req-242"], errors.Select(e => e.GetProperty("custom_id").GetString()).ToList());
        Assert.All(errors, e => Assert.Equal(404, e.GetProperty("response").GetProperty("status_code").GetInt32()));
        Assert.All(errors, e => Assert.Equal("model_not_found", e.GetProperty("response").GetProperty("body").GetProperty("error").GetProperty("code").GetString()));

        // Each answer is what /v1/embeddings gives for the same body.
        foreach (var i in new[] { 0, 150, 299 })
        {
            var line = output.Single(o => o.GetProperty("custom_id").GetString() == $"req-{i}");
            Assert.Equal(200, line.GetProperty("response").GetProperty("status_code").GetInt32());
            Assert.StartsWith("batch_req_", line.GetProperty("id").GetString());
            var body = line.GetProperty("response").GetProperty("body");
            var direct = await (await stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = new[] { $"text {i} alpha", $"text {i} beta" } }))
                .Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(Vectors(direct), Vectors(body));
            Assert.Equal(direct.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        }
    }

    [Fact]
    public async Task Cancel_stops_a_running_job_and_keeps_what_it_completed()
    {
        await using var stack = new EmbeddingStack(backend: "Fake",
            worker: new() { ["Worker:Fake:DelayMilliseconds"] = "150" },
            api: new() { ["Api:Batches:ConcurrentRequestsPerJob"] = "2" });
        var file = await UploadAsync(stack.Client, string.Join("\n", Enumerable.Range(0, 200).Select(i => Line($"c-{i}", stack.Model, $"cancel me {i}"))));
        var id = (await CreateBatchAsync(stack.Client, file)).GetProperty("id").GetString()!;
        await WaitForAsync(stack.Client, id, b => Done(b) >= 4);

        var cancelling = await (await stack.Client.PostAsync($"/v1/batches/{id}/cancel", null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains(cancelling.GetProperty("status").GetString(), new[] { "cancelling", "cancelled" });

        var cancelled = await WaitForAsync(stack.Client, id, b => b.GetProperty("status").GetString() == "cancelled");
        var completed = cancelled.GetProperty("request_counts").GetProperty("completed").GetInt32();
        Assert.InRange(completed, 4, 199);
        Assert.NotEqual(JsonValueKind.Null, cancelled.GetProperty("cancelled_at").ValueKind);
        var output = await ReadJsonlAsync(stack.Client, cancelled.GetProperty("output_file_id").GetString()!);
        Assert.Equal(Enumerable.Range(0, completed).Select(i => $"c-{i}"), output.Select(o => o.GetProperty("custom_id").GetString()));

        // Nothing moves after the cancel (once the runner has let go of the job, nothing else writes it), and a finished
        // job cannot be cancelled again.
        var runner = stack.ApiServices.GetRequiredService<Embedding.Api.Batches.BatchRunner>();
        await TestEnvironment.WaitUntilAsync(() => !runner.IsRunning(id), TimeSpan.FromSeconds(30));
        var later = await GetBatchAsync(stack.Client, id);
        Assert.Equal(completed, later.GetProperty("request_counts").GetProperty("completed").GetInt32());
        await AssertErrorAsync(await stack.Client.PostAsync($"/v1/batches/{id}/cancel", null), HttpStatusCode.BadRequest, "invalid_state");
    }

    [Fact]
    public async Task Lines_that_find_no_worker_are_sent_again_until_one_starts()
    {
        // A tier at zero replicas: each line's message expires on the queue after 2 s and the line is sent again.
        await using var stack = new EmbeddingStack(backend: "Fake", workers: 0, api: new() { ["Api:Batches:RequestTimeoutSeconds"] = "2" });
        var file = await UploadAsync(stack.Client, string.Join("\n", Enumerable.Range(0, 10).Select(i => Line($"z-{i}", stack.Model, $"cold start {i}"))));
        using var retries = new MetricTotal(stack.ApiServices, "embedding.batch_job.retries");
        var id = (await CreateBatchAsync(stack.Client, file)).GetProperty("id").GetString()!;
        // Every line has found no worker and been sent again at least once; none is done, none has failed.
        await TestEnvironment.WaitUntilAsync(() => retries.Value >= 10, TimeSpan.FromSeconds(60));
        var waiting = await GetBatchAsync(stack.Client, id);
        Assert.Equal(0, Done(waiting));
        Assert.Equal("in_progress", waiting.GetProperty("status").GetString());

        stack.StartWorker();

        var done = await WaitForAsync(stack.Client, id, b => b.GetProperty("status").GetString() == "completed");
        Assert.Equal(10, done.GetProperty("request_counts").GetProperty("completed").GetInt32());
        var output = await ReadJsonlAsync(stack.Client, done.GetProperty("output_file_id").GetString()!);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"z-{i}"), output.Select(o => o.GetProperty("custom_id").GetString()));
    }

    [Fact]
    public async Task A_job_keeps_more_lines_in_flight_while_its_tier_has_more_workers()
    {
        await using var stack = new EmbeddingStack(backend: "Fake", workers: 3, worker: new() { ["Worker:Fake:DelayMilliseconds"] = "300" },
            api: new() { ["Api:Batches:ConcurrentRequestsPerJob"] = "2", ["Api:QueueMetricsSeconds"] = "1" });
        var queues = stack.ApiServices.GetRequiredService<Embedding.Api.Services.QueueObserver>();
        await TestEnvironment.WaitUntilAsync(() => queues.ConsumersOf(stack.Model) == 3, TimeSpan.FromSeconds(30));
        long peak = 0;
        var meters = stack.ApiServices.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "embedding.batch_job.requests.in_flight" && instrument.Meter.Scope == meters) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Exchange(ref peak, Math.Max(Interlocked.Read(ref peak), value)));
        listener.Start();

        var file = await UploadAsync(stack.Client, string.Join("\n", Enumerable.Range(0, 60).Select(i => Line($"w-{i}", stack.Model, $"wide {i}"))));
        var id = (await CreateBatchAsync(stack.Client, file)).GetProperty("id").GetString()!;
        await WaitForAsync(stack.Client, id, b =>
        {
            listener.RecordObservableInstruments();
            return b.GetProperty("status").GetString() == "completed";
        });

        Assert.Equal(6, Interlocked.Read(ref peak));  // 2 per worker, 3 workers: never more, and not stuck at 2
    }

    [Fact]
    public async Task Two_api_processes_on_one_storage_directory_run_each_job_once()
    {
        // The job outlasts the runners' 2 s poll, so both would find it if both ran jobs.
        var slow = new Dictionary<string, string?> { ["Api:Batches:ConcurrentRequestsPerJob"] = "2" };
        await using var first = new EmbeddingStack(backend: "Fake", api: slow, worker: new() { ["Worker:Fake:DelayMilliseconds"] = "200" });
        await using var second = new EmbeddingStack(backend: "Fake", workers: 0, model: first.Model, api: slow);  // same directory and queue
        long answered = 0;  // lines answered by any runner, counted by the API's own metric
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) => { if (instrument.Name == "embedding.batch_job.requests") l.EnableMeasurementEvents(instrument); };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags) if (tag.Key == "embedding.model" && Equals(tag.Value, first.Model)) Interlocked.Add(ref answered, value);
        });
        listener.Start();
        var file = await UploadAsync(second.Client, string.Join("\n", Enumerable.Range(0, 40).Select(i => Line($"s-{i}", first.Model, $"shared {i}"))));
        var id = (await CreateBatchAsync(second.Client, file)).GetProperty("id").GetString()!;

        var done = await WaitForAsync(second.Client, id, b => b.GetProperty("status").GetString() == "completed");
        var output = await ReadJsonlAsync(first.Client, done.GetProperty("output_file_id").GetString()!);
        Assert.Equal(Enumerable.Range(0, 40).Select(i => $"s-{i}"), output.Select(o => o.GetProperty("custom_id").GetString()));
        // Both run jobs, each under a lease: one of the two ran this one, so no line ran twice.
        Assert.Equal(40, Interlocked.Read(ref answered));

        // A cancel sent to the process that does not run the job still stops it.
        var fresh = await UploadAsync(second.Client, string.Join("\n", Enumerable.Range(0, 40).Select(i => Line($"c-{i}", first.Model, $"not cached {i}"))));
        var another = (await CreateBatchAsync(second.Client, fresh)).GetProperty("id").GetString()!;
        await WaitForAsync(second.Client, another, b => Done(b) >= 2);
        Assert.Equal(HttpStatusCode.OK, (await second.Client.PostAsync($"/v1/batches/{another}/cancel", null)).StatusCode);
        var cancelled = await WaitForAsync(first.Client, another, b => b.GetProperty("status").GetString() == "cancelled");
        Assert.InRange(cancelled.GetProperty("request_counts").GetProperty("completed").GetInt32(), 2, 39);
    }

    [Fact]
    public async Task Interactive_requests_overtake_batch_work_waiting_on_the_same_queue()
    {
        // No worker yet: the job's lines wait on the queue; an interactive request joins them; then one worker that takes one
        // message at a time starts. RabbitMQ hands it the interactive request first.
        await using var stack = new EmbeddingStack(backend: "Fake", workers: 0,
            worker: new() { ["Worker:Fake:DelayMilliseconds"] = "200", ["Worker:PrefetchCount"] = "1" },
            api: new() { ["Api:Batches:ConcurrentRequestsPerJob"] = "6" });
        await using var broker = new QueueInspector(TestEnvironment.RabbitMq, "batch-priority-test");
        var queue = EmbeddingQueues.ForModel(stack.Model);
        var file = await UploadAsync(stack.Client, string.Join("\n", Enumerable.Range(0, 20).Select(i => Line($"p-{i}", stack.Model, $"background {i}"))));
        var id = (await CreateBatchAsync(stack.Client, file)).GetProperty("id").GetString()!;
        await WaitUntilAsync(async () => (await broker.PeekAsync(queue, default))?.Ready == 6);

        var interactive = stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "urgent" });
        await WaitUntilAsync(async () => (await broker.PeekAsync(queue, default))?.Ready == 7);
        stack.StartWorker();

        var response = await interactive;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var batchDone = Done(await GetBatchAsync(stack.Client, id));
        Assert.True(batchDone <= 1, $"{batchDone} batch lines were answered before the interactive request");
        await WaitForAsync(stack.Client, id, b => b.GetProperty("status").GetString() == "completed");
    }

    [Fact]
    public async Task A_queue_left_without_the_priority_argument_is_replaced_while_empty()
    {
        // An older version declared queues without x-max-priority; redeclaring with it fails (PRECONDITION_FAILED).
        var model = EmbeddingStack.NewModelName();
        var queue = EmbeddingQueues.ForModel(model);
        await using (var connection = await new RabbitMQ.Client.ConnectionFactory { Uri = new Uri(TestEnvironment.RabbitMq) }.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
        await using var stack = new EmbeddingStack(backend: "Fake", workers: 0, model: model);

        var request = stack.Client.PostAsJsonAsync("/v1/embeddings", new { model, input = "after the upgrade" });
        await using var broker = new QueueInspector(TestEnvironment.RabbitMq, "queue-upgrade-test");
        await WaitUntilAsync(async () => (await broker.PeekAsync(queue, default))?.Ready == 1);
        stack.StartWorker();  // its own declaration (with the argument) now matches

        Assert.Equal(HttpStatusCode.OK, (await request).StatusCode);
    }

    /// <summary>On a network share (Azure Files) the job database keeps a rollback journal instead of WAL: jobs run and survive a restart the same.</summary>
    [Fact]
    public async Task With_a_rollback_journal_jobs_complete_and_survive_a_restart()
    {
        await using var stack = new EmbeddingStack(backend: "Fake", api: new() { ["Api:Batches:JournalMode"] = "DELETE", ["ConnectionStrings:batches"] = "" });
        var file = await UploadAsync(stack.Client, string.Join("\n", Enumerable.Range(0, 5).Select(i => Line($"j-{i}", stack.Model, $"journal {i}"))));
        var id = (await CreateBatchAsync(stack.Client, file)).GetProperty("id").GetString()!;
        await WaitForAsync(stack.Client, id, b => b.GetProperty("status").GetString() == "completed");

        await stack.RestartApiAsync();
        var done = await GetBatchAsync(stack.Client, id);
        Assert.Equal("completed", done.GetProperty("status").GetString());
        Assert.Equal(5, (await ReadJsonlAsync(stack.Client, done.GetProperty("output_file_id").GetString()!)).Count);
        var database = Path.Combine(Path.GetTempPath(), "embedding-tests", "batches", stack.Model, "batches.db");
        Assert.True(File.Exists(database));
        Assert.False(File.Exists(database + "-wal"), "a rollback journal leaves no WAL file");
    }

    [Fact]
    public async Task Files_and_batch_outputs_expire_when_asked_and_a_bad_expiry_is_a_400()
    {
        await using var stack = new EmbeddingStack(backend: "Fake");
        var http = stack.Client;
        MultipartFormDataContent Expiring(string anchor, string seconds)
        {
            var form = Form(Line("e-1", stack.Model, "expiring"), "batch");
            form.Add(new StringContent(anchor), "expires_after[anchor]");
            form.Add(new StringContent(seconds), "expires_after[seconds]");
            return form;
        }

        var response = await http.PostAsync("/v1/files", Expiring("created_at", "3600"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var file = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(file.GetProperty("created_at").GetInt64() + 3600, file.GetProperty("expires_at").GetInt64());
        var plain = await http.GetFromJsonAsync<JsonElement>($"/v1/files/{await UploadAsync(http, Line("e-2", stack.Model, "kept"))}");
        Assert.Equal(JsonValueKind.Null, plain.GetProperty("expires_at").ValueKind);
        await AssertErrorAsync(await http.PostAsync("/v1/files", Expiring("last_active_at", "3600")), HttpStatusCode.BadRequest, "invalid_value", "expires_after.anchor");
        await AssertErrorAsync(await http.PostAsync("/v1/files", Expiring("created_at", "60")), HttpStatusCode.BadRequest, "invalid_value", "expires_after.seconds");

        // The output file of a batch created with output_expires_after carries its expiry.
        var fileId = file.GetProperty("id").GetString()!;
        await AssertErrorAsync(await http.PostAsJsonAsync("/v1/batches", new { input_file_id = fileId, endpoint = "/v1/embeddings", completion_window = "24h",
            output_expires_after = new { anchor = "created_at", seconds = 31 * 24 * 3600 } }), HttpStatusCode.BadRequest, "invalid_value", "output_expires_after.seconds");
        var created = await http.PostAsJsonAsync("/v1/batches", new { input_file_id = fileId, endpoint = "/v1/embeddings", completion_window = "24h",
            output_expires_after = new { anchor = "created_at", seconds = 7200 } });
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var done = await WaitForAsync(http, id, b => b.GetProperty("status").GetString() == "completed");
        var output = await http.GetFromJsonAsync<JsonElement>($"/v1/files/{done.GetProperty("output_file_id").GetString()}");
        Assert.Equal(output.GetProperty("created_at").GetInt64() + 7200, output.GetProperty("expires_at").GetInt64());
    }

    /// <summary>
    /// The sweep deletes what has expired (row and bytes), keeps files without an expiry and the input of a job still
    /// open; a store made before files could expire gets the column and keeps its files.
    /// </summary>
    [Fact]
    public async Task Expired_files_are_deleted_except_the_input_of_an_open_job()
    {
        var dir = Path.Combine(Path.GetTempPath(), "embedding-tests", "expiry-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        await using (var legacy = new SqliteConnection($"Data Source={Path.Combine(dir, "batches.db")}"))
        {
            await legacy.OpenAsync();
            await using var create = legacy.CreateCommand();
            create.CommandText = """
                CREATE TABLE files(id TEXT PRIMARY KEY, owner TEXT NOT NULL, purpose TEXT NOT NULL, filename TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL);
                INSERT INTO files VALUES ('file-old', 'k', 'batch', 'old.jsonl', 2, 1);
                """;
            await create.ExecuteNonQueryAsync();
        }
        SqliteConnection.ClearAllPools();
        var store = new SqliteBatchStore(Options.Create(new EmbeddingApiOptions { Batches = new() { StoragePath = dir } }));
        async Task<StoredFile> AddAsync(int? expiresAfter)
        {
            var temp = await store.NewTempPathAsync(default);
            await File.WriteAllTextAsync(temp, "{}");
            return await store.AddFileAsync("k", "batch", "f.jsonl", temp, default, expiresAfterSeconds: expiresAfter);
        }
        var expiring = await AddAsync(3600);
        var kept = await AddAsync(null);
        var input = await AddAsync(3600);
        var now = IBatchStore.Now();
        await store.CreateBatchAsync(new BatchJob
        {
            Id = "batch_open", Owner = "k", Endpoint = "/v1/embeddings", InputFileId = input.Id, CompletionWindow = "24h", CreatedAt = now, ExpiresAt = now + 86_400,
        }, default);

        Assert.Equal(0, await store.DeleteExpiredFilesAsync(now, default));
        Assert.Equal(1, await store.DeleteExpiredFilesAsync(now + 3600, default));
        Assert.Null(await store.GetFileAsync(expiring.Id, "k", default));
        Assert.False(File.Exists(store.PathOf(expiring.Id)));
        Assert.NotNull(await store.GetFileAsync(kept.Id, "k", default));
        Assert.NotNull(await store.GetFileAsync(input.Id, "k", default));
        var old = await store.GetFileAsync("file-old", "k", default);
        Assert.NotNull(old);
        Assert.Null(old.ExpiresAt);
        SqliteConnection.ClearAllPools();
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void Out_of_range_batch_and_near_duplicate_settings_stop_the_api_at_start()
    {
        foreach (var (key, value) in new[] { ("Api:Batches:ConcurrentRequestsPerJob", "0"), ("Api:Batches:JournalMode", "MEMORY"), ("Api:Cache:NearDuplicates:MaxDistance", "40") })
        {
            var error = Assert.ThrowsAny<Exception>(() => new EmbeddingStack(backend: "Fake", workers: 0, api: new() { [key] = value }));
            Assert.Contains("Api:Cache (NearDuplicates included) and Api:Batches", error.ToString());
        }
    }

    [Fact]
    public async Task Bad_files_and_batch_requests_get_clear_errors()
    {
        await using var stack = new EmbeddingStack(backend: "Fake", workers: 0, api: new() { ["Api:Batches:MaxFileBytes"] = "4096" });
        var http = stack.Client;

        await AssertErrorAsync(await http.PostAsJsonAsync("/v1/files", new { purpose = "batch" }), HttpStatusCode.BadRequest, null);
        await AssertErrorAsync(await http.PostAsync("/v1/files", Form("{}", purpose: null)), HttpStatusCode.BadRequest, "missing_required_parameter", "purpose");
        await AssertErrorAsync(await http.PostAsync("/v1/files", Form("{}", purpose: "fine-tune")), HttpStatusCode.BadRequest, "invalid_value", "purpose");
        await AssertErrorAsync(await http.PostAsync("/v1/files", Form(null, purpose: "batch")), HttpStatusCode.BadRequest, "missing_required_parameter", "file");
        await AssertErrorAsync(await http.PostAsync("/v1/files", Form("", purpose: "batch")), HttpStatusCode.BadRequest, "empty_file", "file");
        await AssertErrorAsync(await http.PostAsync("/v1/files", Form(new string('x', 5000), purpose: "batch")), HttpStatusCode.RequestEntityTooLarge, "file_too_large");

        var good = await UploadAsync(http, Line("a", stack.Model, "hello"));
        await AssertErrorAsync(await http.PostAsync("/v1/batches", new StringContent("{not json", Encoding.UTF8, "application/json")), HttpStatusCode.BadRequest, null);
        await AssertErrorAsync(await http.PostAsJsonAsync("/v1/batches", new { endpoint = "/v1/embeddings", completion_window = "24h" }), HttpStatusCode.BadRequest, "missing_required_parameter", "input_file_id");
        await AssertErrorAsync(await http.PostAsJsonAsync("/v1/batches", new { input_file_id = "file-nope", endpoint = "/v1/embeddings", completion_window = "24h" }), HttpStatusCode.BadRequest, "invalid_file", "input_file_id");
        await AssertErrorAsync(await http.PostAsJsonAsync("/v1/batches", new { input_file_id = good, endpoint = "/v1/chat/completions", completion_window = "24h" }), HttpStatusCode.BadRequest, "invalid_value", "endpoint");
        await AssertErrorAsync(await http.PostAsJsonAsync("/v1/batches", new { input_file_id = good, endpoint = "/v1/embeddings", completion_window = "1h" }), HttpStatusCode.BadRequest, "invalid_value", "completion_window");
        await AssertErrorAsync(await http.GetAsync("/v1/batches/batch_nope"), HttpStatusCode.NotFound, "not_found");
        await AssertErrorAsync(await http.PostAsync("/v1/batches/batch_nope/cancel", null), HttpStatusCode.NotFound, "not_found");
        await AssertErrorAsync(await http.GetAsync("/v1/files/file-nope"), HttpStatusCode.NotFound, "not_found");
        await AssertErrorAsync(await http.GetAsync("/v1/files/file-nope/content"), HttpStatusCode.NotFound, "not_found");
        await AssertErrorAsync(await http.GetAsync("/v1/batches?limit=many"), HttpStatusCode.BadRequest, null);
        await AssertErrorAsync(await http.GetAsync("/v1/files?limit=1e99"), HttpStatusCode.BadRequest, null);
        await AssertErrorAsync(await http.PutAsync("/v1/batches", null), HttpStatusCode.MethodNotAllowed, null);

        // A file whose lines cannot run: the batch fails at validation, naming each bad line, before any model time is spent.
        var bad = await UploadAsync(http, string.Join("\n",
            Line("x-1", stack.Model, "fine"),
            "{not json",
            """{"method":"POST","url":"/v1/embeddings","body":{"model":"m","input":"no id"}}""",
            Line("x-1", stack.Model, "same id again"),
            """{"custom_id":"x-5","method":"POST","url":"/v1/chat/completions","body":{}}""",
            """{"custom_id":"x-6","method":"GET","url":"/v1/embeddings","body":{}}""",
            """{"custom_id":"x-7","method":"POST","url":"/v1/embeddings"}"""));
        var failed = await WaitForAsync(http, (await CreateBatchAsync(http, bad)).GetProperty("id").GetString()!, b => b.GetProperty("status").GetString() == "failed");
        var found = failed.GetProperty("errors").GetProperty("data").EnumerateArray()
            .Select(e => (e.GetProperty("line").GetInt32(), e.GetProperty("code").GetString())).ToList();
        Assert.Equal([(2, "invalid_json_line"), (3, "missing_required_parameter"), (4, "duplicate_custom_id"), (5, "mismatched_endpoint"),
                      (6, "invalid_method"), (7, "missing_required_parameter")], found);
        Assert.Equal(JsonValueKind.Null, failed.GetProperty("output_file_id").ValueKind);

        // Listing and deleting files; a deleted file is gone.
        var files = await http.GetFromJsonAsync<JsonElement>("/v1/files?purpose=batch");
        Assert.Contains(good, files.GetProperty("data").EnumerateArray().Select(f => f.GetProperty("id").GetString()));
        var deleted = await (await http.DeleteAsync($"/v1/files/{good}")).Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(deleted.GetProperty("deleted").GetBoolean());
        await AssertErrorAsync(await http.GetAsync($"/v1/files/{good}"), HttpStatusCode.NotFound, "not_found");
    }

    // ---- helpers ----

    /// <summary>The running total of one of the API's counters (its own host's meter, not another test's).</summary>
    private sealed class MetricTotal : IDisposable
    {
        private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
        private long _total;

        public MetricTotal(IServiceProvider api, string name)
        {
            var meters = api.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name == name && instrument.Meter.Scope == meters) l.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _total, value));
            _listener.Start();
        }

        public long Value => Interlocked.Read(ref _total);

        public void Dispose() => _listener.Dispose();
    }

    internal static string Line(string customId, string model, params string[] inputs) =>
        JsonSerializer.Serialize(new { custom_id = customId, method = "POST", url = "/v1/embeddings", body = new { model, input = inputs } });

    private static MultipartFormDataContent Form(string? content, string? purpose)
    {
        var form = new MultipartFormDataContent();
        if (purpose is not null) form.Add(new StringContent(purpose), "purpose");
        if (content is not null)
        {
            var file = new ByteArrayContent(Encoding.UTF8.GetBytes(content));
            file.Headers.ContentType = new MediaTypeHeaderValue("application/jsonl");
            form.Add(file, "file", "input.jsonl");
        }
        return form;
    }

    internal static async Task<string> UploadAsync(HttpClient http, string content)
    {
        var response = await http.PostAsync("/v1/files", Form(content, "batch"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var file = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("batch", file.GetProperty("purpose").GetString());
        Assert.Equal(Encoding.UTF8.GetByteCount(content), file.GetProperty("bytes").GetInt64());
        return file.GetProperty("id").GetString()!;
    }

    internal static async Task<JsonElement> CreateBatchAsync(HttpClient http, string fileId)
    {
        var response = await http.PostAsJsonAsync("/v1/batches", new { input_file_id = fileId, endpoint = "/v1/embeddings", completion_window = "24h" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static async Task<JsonElement> GetBatchAsync(HttpClient http, string id) => await http.GetFromJsonAsync<JsonElement>($"/v1/batches/{id}");

    private static int Done(JsonElement batch) =>
        batch.GetProperty("request_counts").GetProperty("completed").GetInt32() + batch.GetProperty("request_counts").GetProperty("failed").GetInt32();

    internal static async Task<JsonElement> WaitForAsync(HttpClient http, string id, Func<JsonElement, bool> condition, TimeSpan? timeout = null)
    {
        JsonElement batch = default;
        await WaitUntilAsync(async () => condition(batch = await GetBatchAsync(http, id)), timeout);
        return batch;
    }

    private static Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan? timeout = null) =>
        TestEnvironment.WaitUntilAsync(condition, timeout ?? TimeSpan.FromSeconds(60), pollMilliseconds: 20);

    private static async Task<List<JsonElement>> ReadJsonlAsync(HttpClient http, string fileId)
    {
        var text = await http.GetStringAsync($"/v1/files/{fileId}/content");
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
    }

    private static List<float[]> Vectors(JsonElement body) => body.GetProperty("data").EnumerateArray()
        .Select(d => d.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToList();

    private static async Task AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string? code, string? param = null)
    {
        Assert.Equal(status, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        if (code is not null) Assert.Equal(code, error.GetProperty("code").GetString());
        if (param is not null) Assert.Equal(param, error.GetProperty("param").GetString());
    }
}
