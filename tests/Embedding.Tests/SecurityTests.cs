using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Embedding.Api;
using Embedding.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Embedding.Tests;

/// <summary>API keys (hashed), per-key model access, requests and tokens per minute, request limits, load shedding, redaction.</summary>
public sealed class SecurityTests
{
    private const string AliceKey = "sk-emb-alice-7d1f0c";
    private const string BobKey = "sk-emb-bob-93ab22";

    private static Dictionary<string, string?> Keys(Dictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Api:Auth:Keys:0:Name"] = "alice",
            ["Api:Auth:Keys:0:Sha256"] = ApiKeyOptions.Hash(AliceKey),
            ["Api:Auth:Keys:1:Name"] = "bob",
            ["Api:Auth:Keys:1:Sha256"] = "sha256:" + ApiKeyOptions.Hash(BobKey).ToUpperInvariant(),
        };
        foreach (var (k, v) in extra ?? []) settings[k] = v;
        return settings;
    }

    private static HttpRequestMessage Embed(string model, object input, string? key, bool truncate = false)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/embeddings") { Content = JsonContent.Create(new { model, input, truncate }) };
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return request;
    }

    private static async Task<JsonElement> ErrorOf(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");

    [Fact]
    public async Task Requests_need_a_valid_key_and_get_openai_style_401s_otherwise()
    {
        await using var stack = new EmbeddingStack(backend: "Fake", redis: null, api: Keys());

        var none = await stack.Client.SendAsync(Embed(stack.Model, "hello", key: null));
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        var noneError = await ErrorOf(none);
        Assert.Equal("invalid_api_key", noneError.GetProperty("code").GetString());
        Assert.Contains("didn't provide", noneError.GetProperty("message").GetString());

        foreach (var bad in new[] { "sk-emb-wrong", AliceKey + "x", AliceKey.ToUpperInvariant(), new string('x', 600) })
        {
            var wrong = await stack.Client.SendAsync(Embed(stack.Model, "hello", bad));
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
            Assert.Equal("invalid_request_error", (await ErrorOf(wrong)).GetProperty("type").GetString());
        }
        using var basic = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        basic.Headers.Authorization = new AuthenticationHeaderValue("Basic", "YWxpY2U6c2VjcmV0");
        Assert.Equal(HttpStatusCode.Unauthorized, (await stack.Client.SendAsync(basic)).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await stack.Client.SendAsync(Embed(stack.Model, "hello", AliceKey))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await stack.Client.SendAsync(Embed(stack.Model, "hello", BobKey))).StatusCode);  // hash stored as "sha256:HEX"
        Assert.Equal(HttpStatusCode.OK, (await stack.Client.GetAsync("/health")).StatusCode);  // probes need no key
    }

    [Fact]
    public async Task Files_and_batch_jobs_belong_to_the_key_that_made_them()
    {
        await using var stack = new EmbeddingStack(backend: "Fake", redis: null,
            api: Keys(new() { ["Api:Auth:Keys:1:Models:0"] = EmbeddingStack.NewModelName() }));
        using var alice = stack.NewClient(AliceKey);
        using var bob = stack.NewClient(BobKey);
        var file = await BatchTests.UploadAsync(alice, BatchTests.Line("a-1", stack.Model, "alice's text"));
        var batch = (await BatchTests.CreateBatchAsync(alice, file)).GetProperty("id").GetString();

        // Bob sees none of it, and cannot start a job on alice's file.
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"/v1/files/{file}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"/v1/files/{file}/content")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.DeleteAsync($"/v1/files/{file}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"/v1/batches/{batch}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.PostAsync($"/v1/batches/{batch}/cancel", null)).StatusCode);
        Assert.Empty((await bob.GetFromJsonAsync<JsonElement>("/v1/files")).GetProperty("data").EnumerateArray());
        Assert.Empty((await bob.GetFromJsonAsync<JsonElement>("/v1/batches")).GetProperty("data").EnumerateArray());
        var steal = await bob.PostAsJsonAsync("/v1/batches", new { input_file_id = file, endpoint = "/v1/embeddings", completion_window = "24h" });
        Assert.Equal("invalid_file", (await ErrorOf(steal)).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, (await stack.Client.GetAsync("/v1/files")).StatusCode);

        // Bob's key may not use this model: in a job, as in a request, that line is answered 404 model_not_found.
        var bobs = await BatchTests.UploadAsync(bob, BatchTests.Line("b-1", stack.Model, "bob's text"));
        var bobBatch = (await BatchTests.CreateBatchAsync(bob, bobs)).GetProperty("id").GetString()!;
        var done = await BatchTests.WaitForAsync(bob, bobBatch, b => b.GetProperty("status").GetString() == "completed", TimeSpan.FromSeconds(30));
        Assert.Equal(1, done.GetProperty("request_counts").GetProperty("failed").GetInt32());
        var errors = await bob.GetStringAsync($"/v1/files/{done.GetProperty("error_file_id").GetString()}/content");
        Assert.Contains("\"model_not_found\"", errors);
        Assert.Equal(JsonValueKind.Null, done.GetProperty("output_file_id").ValueKind);
    }

    [Fact]
    public async Task A_key_limited_to_some_models_sees_and_uses_only_those()
    {
        await using var stack = new EmbeddingStack(backend: "Fake", redis: null, api: null);
        var model = stack.Model;
        await using var limited = new EmbeddingStack(backend: "Fake", redis: null, workers: 0, model: model,
            api: Keys(new() { ["Api:Auth:Keys:1:Models:0"] = model + "-plain" }));

        var denied = await limited.Client.SendAsync(Embed(model, "hello", BobKey));
        Assert.Equal(HttpStatusCode.NotFound, denied.StatusCode);
        Assert.Equal("model_not_found", (await ErrorOf(denied)).GetProperty("code").GetString());

        using var list = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        list.Headers.Authorization = new AuthenticationHeaderValue("Bearer", BobKey);
        var models = await (await limited.Client.SendAsync(list)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal([model + "-plain"], models.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()));

        Assert.Equal(HttpStatusCode.OK, (await limited.Client.SendAsync(Embed(model, "hello", AliceKey))).StatusCode);  // alice: every model
    }

    [Fact]
    public async Task Requests_per_minute_are_limited_per_key_with_retry_after()
    {
        await using var stack = new EmbeddingStack(backend: "Fake", redis: null, api: Keys(new() { ["Api:Auth:Keys:0:RequestsPerMinute"] = "2" }));

        Assert.Equal(HttpStatusCode.OK, (await stack.Client.SendAsync(Embed(stack.Model, "one", AliceKey))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await stack.Client.SendAsync(Embed(stack.Model, "two", AliceKey))).StatusCode);
        var third = await stack.Client.SendAsync(Embed(stack.Model, "three", AliceKey));

        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.True(third.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        var error = await ErrorOf(third);
        Assert.Equal("rate_limit_exceeded", error.GetProperty("code").GetString());
        Assert.Equal("requests", error.GetProperty("type").GetString());
        Assert.DoesNotContain(AliceKey, error.GetProperty("message").GetString());
        // Other keys have their own bucket.
        Assert.Equal(HttpStatusCode.OK, (await stack.Client.SendAsync(Embed(stack.Model, "three", BobKey))).StatusCode);
    }

    [Fact]
    public async Task Tokens_per_minute_are_charged_from_usage_and_then_refused_with_retry_after()
    {
        await using var stack = new EmbeddingStack(backend: "Fake", redis: null, api: Keys(new() { ["Api:Auth:Keys:0:TokensPerMinute"] = "60" }));

        var first = await stack.Client.SendAsync(Embed(stack.Model, new[] { string.Join(' ', Enumerable.Repeat("word", 100)) }, AliceKey));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.True((await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("usage").GetProperty("prompt_tokens").GetInt32() > 60);

        var second = await stack.Client.SendAsync(Embed(stack.Model, "more", AliceKey));
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.Equal("tokens", (await ErrorOf(second)).GetProperty("type").GetString());
        Assert.True(second.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.OK, (await stack.Client.SendAsync(Embed(stack.Model, "more", BobKey))).StatusCode);
    }

    [Fact]
    public async Task Tokens_per_input_and_per_request_are_limited_before_any_model_time()
    {
        await using var stack = new EmbeddingStack(backend: "Onnx", redis: null,
            api: new() { ["Api:MaxTokensPerInput"] = "8", ["Api:MaxTokensPerRequest"] = "20" });
        var long12 = "one two three four five six seven eight nine ten eleven";

        var tooLong = await stack.Client.SendAsync(Embed(stack.Model, new[] { "short", long12 }, key: null));
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        var error = await ErrorOf(tooLong);
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
        Assert.Equal("input[1]", error.GetProperty("param").GetString());
        Assert.Contains("limit is 8", error.GetProperty("message").GetString());

        var cut = await stack.Client.SendAsync(Embed(stack.Model, new[] { long12 }, key: null, truncate: true));
        Assert.Equal(HttpStatusCode.OK, cut.StatusCode);
        Assert.Equal(8, (await cut.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        // Twelve short inputs, each within the per-input limit, at least two tokens each (text + end of sequence).
        var tooMany = await stack.Client.SendAsync(Embed(stack.Model, Enumerable.Range(0, 12).Select(i => $"x{i}").ToArray(), key: null));
        Assert.Equal(HttpStatusCode.BadRequest, tooMany.StatusCode);
        Assert.Equal("max_tokens_per_request", (await ErrorOf(tooMany)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task Overload_is_shed_with_503_and_retry_after_and_every_request_is_answered()
    {
        await using var stack = new EmbeddingStack(backend: "Fake", redis: null,
            api: new() { ["Api:MaxConcurrentRequests"] = "3" }, worker: new() { ["Worker:Fake:DelayMilliseconds"] = "400" });

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = $"load {i}" })));

        var ok = responses.Count(r => r.StatusCode == HttpStatusCode.OK);
        var shed = responses.Where(r => r.StatusCode == HttpStatusCode.ServiceUnavailable).ToList();
        Assert.Equal(20, ok + shed.Count);  // each request answered once: served, or told to come back
        Assert.InRange(ok, 3, 19);
        Assert.NotEmpty(shed);
        Assert.All(shed, r => Assert.True(r.Headers.RetryAfter?.Delta > TimeSpan.Zero));
        Assert.Equal("service_unavailable", (await ErrorOf(shed[0])).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.OK, (await stack.Client.GetAsync("/health")).StatusCode);  // probes are never shed
    }

    /// <summary>Keys and input texts never reach logs or traces, in the API or the worker, even at Debug level.</summary>
    [Fact]
    public async Task Keys_and_texts_never_appear_in_logs_or_traces()
    {
        const string secretText = "confidential-patient-record-4417";
        var lines = new ConcurrentQueue<string>();
        var activities = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = _ => true,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activities.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var stack = new EmbeddingStack(backend: "Fake", redis: null, api: Keys(),
            configure: b => b.ConfigureServices(s => s.AddLogging(l => l.SetMinimumLevel(LogLevel.Trace).AddProvider(new CollectingLoggerProvider(lines)))));

        var ok = await stack.Client.SendAsync(Embed(stack.Model, secretText, AliceKey));
        var refused = await stack.Client.SendAsync(Embed(stack.Model, secretText, AliceKey + "-wrong"));
        var invalid = await stack.Client.SendAsync(Embed(stack.Model, new object[] { secretText, 42 }, AliceKey));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        // The API's server spans end after their responses are sent: wait for all three.
        await TestEnvironment.WaitUntilAsync(() => activities.Count(a => a.Kind == ActivityKind.Server) >= 3, TimeSpan.FromSeconds(10));

        Assert.NotEmpty(lines);
        Assert.NotEmpty(activities);
        var recorded = lines.Concat(activities.SelectMany(a =>
            a.Tags.Select(t => $"{t.Key}={t.Value}")
             .Concat(a.Events.SelectMany(e => e.Tags.Select(t => $"{t.Key}={t.Value}")))
             .Append(a.DisplayName))).ToList();
        foreach (var secret in new[] { AliceKey, secretText, "7d1f0c" })
            Assert.DoesNotContain(recorded, r => r.Contains(secret, StringComparison.Ordinal));
    }

    private sealed class CollectingLoggerProvider(ConcurrentQueue<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Collecting(lines, categoryName);
        public void Dispose() { }

        private sealed class Collecting(ConcurrentQueue<string> lines, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull
            {
                lines.Enqueue($"{category} scope {state}");
                return null;
            }

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                lines.Enqueue($"{category} {formatter(state, exception)} {exception}");
        }
    }
}
