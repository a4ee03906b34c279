using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using Embedding.Worker.Backends;

namespace Embedding.Tests;

/// <summary>A worker process killed while it holds messages loses nothing: another worker answers them all.</summary>
public sealed class WorkerCrashTests
{
    [Fact]
    public async Task Worker_killed_mid_batch_loses_no_request()
    {
        await using var stack = new EmbeddingStack(backend: "Fake", workers: 0, redis: null, requestTimeoutSeconds: 90);
        using var doomed = StartWorkerProcess(stack, delayMilliseconds: 60_000);  // its batches never finish
        try
        {
            await Run(stack, doomed);
        }
        finally
        {
            if (!doomed.HasExited) doomed.Kill(entireProcessTree: true);  // never leave it behind, even on failure
        }
    }

    private static async Task Run(EmbeddingStack stack, Process doomed)
    {
        var queue = EmbeddingQueues.ForModel(stack.Model);
        await WaitForLineAsync(doomed, "Application started", TimeSpan.FromSeconds(60));

        var texts = Enumerable.Range(0, 20).Select(i => $"survives a crash {i}").ToArray();
        var requests = texts.Select(t => stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = t })).ToArray();

        // The doomed worker holds all 20 messages unacknowledged (in its batcher) when it dies.
        await TestEnvironment.WaitUntilAsync(async () => await QueueCountAsync(queue, "messages_unacknowledged") == texts.Length, TimeSpan.FromSeconds(30));
        doomed.Kill(entireProcessTree: true);
        await doomed.WaitForExitAsync();

        stack.StartWorker();  // a healthy replacement
        var responses = await Task.WhenAll(requests).WaitAsync(TimeSpan.FromSeconds(90));

        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(HttpStatusCode.OK, responses[i].StatusCode);
            var json = await responses[i].Content.ReadFromJsonAsync<JsonElement>();
            var vector = json.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
            Assert.Equal(FakeBackend.VectorFor(texts[i], 64), vector);
        }
        // Nothing left behind: the queue drains (its statistics refresh every few seconds) and nothing faulted.
        await TestEnvironment.WaitUntilAsync(async () => await QueueCountAsync(queue, "messages") == 0, TimeSpan.FromSeconds(30));
        Assert.Equal(0, await ErrorQueueDepthAsync(queue));
    }

    private static Process StartWorkerProcess(EmbeddingStack stack, int delayMilliseconds)
    {
        var dll = Path.Combine(TestEnvironment.RepoRoot, "src", "Embedding.Worker", "bin", TestEnvironment.Configuration, "net10.0", "Embedding.Worker.dll");
        var start = new ProcessStartInfo("dotnet", [dll])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        foreach (var (key, value) in stack.WorkerSettings) start.Environment[key.Replace(":", "__")] = value;
        start.Environment["Worker__Fake__DelayMilliseconds"] = delayMilliseconds.ToString();
        start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        start.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        return Process.Start(start)!;
    }

    private static async Task WaitForLineAsync(Process process, string marker, TimeSpan timeout)
    {
        var seen = new StringBuilder();
        using var cts = new CancellationTokenSource(timeout);
        while (await process.StandardOutput.ReadLineAsync(cts.Token) is { } line)
        {
            seen.AppendLine(line);
            if (line.Contains(marker, StringComparison.Ordinal))
            {
                _ = process.StandardOutput.ReadToEndAsync();  // keep draining so the process never blocks on a full pipe
                _ = process.StandardError.ReadToEndAsync();
                return;
            }
        }
        throw new InvalidOperationException($"Worker exited before '{marker}':\n{seen}\n{await process.StandardError.ReadToEndAsync()}");
    }

    private static readonly HttpClient Management = CreateManagementClient();

    private static HttpClient CreateManagementClient()
    {
        var uri = new Uri(TestEnvironment.RabbitMqManagement);
        var client = new HttpClient { BaseAddress = new Uri(uri.GetLeftPart(UriPartial.Authority)) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(Uri.UnescapeDataString(uri.UserInfo))));
        return client;
    }

    /// <summary>A queue counter from the management API; absent (-1) until its first statistics sample.</summary>
    private static async Task<int> QueueCountAsync(string queue, string counter)
    {
        var json = await Management.GetFromJsonAsync<JsonElement>($"/api/queues/%2F/{queue}");
        return json.TryGetProperty(counter, out var value) ? value.GetInt32() : -1;
    }

    private static async Task<int> ErrorQueueDepthAsync(string queue)
    {
        var response = await Management.GetAsync($"/api/queues/%2F/{queue}_error");
        if (response.StatusCode == HttpStatusCode.NotFound) return 0;
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).TryGetProperty("messages", out var n) ? n.GetInt32() : 0;
    }
}
