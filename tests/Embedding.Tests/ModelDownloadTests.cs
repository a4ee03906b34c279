using System.Net.Http.Json;
using System.Text.Json;
using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using Embedding.Worker;
using Embedding.Worker.Backends;
using Embedding.Worker.Model;
using Microsoft.Extensions.Logging.Abstractions;

namespace Embedding.Tests;

/// <summary>
/// Models from a hub: every public ONNX export shape, downloaded from a local stand-in of the Hugging Face hub
/// (<see cref="FakeHub"/>) and served, against the vectors tools/tiny-model/export_shapes.py recorded for each file
/// (transformers' for fp32 graphs, onnxruntime Python's for fp16 and weight-only quantized ones). Plus what a download
/// must survive: corruption, a dropped connection, a private repository, no network at all, two processes at once.
/// </summary>
public sealed class ModelDownloadTests : IAsyncLifetime
{
    private FakeHub _hub = null!;
    private string _cache = null!;

    public async Task InitializeAsync()
    {
        _hub = (await FakeHub.StartAsync())
            .Add("acme/tiny", TestEnvironment.TinyModel)
            .Add("qdrant/tiny-onnx", Path.Combine(TestEnvironment.TinyExports, "qwen3-tiny-fastembed"))
            .Add("onnx-community/tiny-ONNX", Path.Combine(TestEnvironment.TinyExports, "qwen3-tiny-transformersjs"))
            .Add("acme/tiny-batch1", Path.Combine(TestEnvironment.TinyExports, "qwen3-tiny-batch1"));
        _cache = Directory.CreateTempSubdirectory("models-").FullName;
    }

    public async Task DisposeAsync()
    {
        await _hub.DisposeAsync();
        Directory.Delete(_cache, recursive: true);
    }

    private HubOptions Hub(string? token = null) => new() { Endpoint = _hub.Endpoint.ToString(), CacheDirectory = _cache, Token = token };

    private static ModelFiles Files() => new(new HttpClient(), NullLogger<ModelFiles>.Instance);

    public static TheoryData<string, string, string> ExportFiles() => new()
    {
        { "qdrant/tiny-onnx", "qwen3-tiny-fastembed", "onnx/model.onnx" },            // + onnx/model.onnx_data, output token_embeddings
        { "qdrant/tiny-onnx", "qwen3-tiny-fastembed", "onnx/model_quantized.onnx" },  // 8-bit MatMulNBits
        { "onnx-community/tiny-ONNX", "qwen3-tiny-transformersjs", "onnx/model.onnx" },  // position_ids, empty past_key_values
        { "onnx-community/tiny-ONNX", "qwen3-tiny-transformersjs", "onnx/model_fp16.onnx" },  // fp16 past inputs and output
        { "onnx-community/tiny-ONNX", "qwen3-tiny-transformersjs", "onnx/model_quantized.onnx" },
        { "onnx-community/tiny-ONNX", "qwen3-tiny-transformersjs", "onnx/model_q4.onnx" },
        { "acme/tiny-batch1", "qwen3-tiny-batch1", "model.onnx" },                     // batch dimension fixed at 1
    };

    [Theory]
    [MemberData(nameof(ExportFiles))]
    public async Task Every_public_export_shape_is_downloaded_and_served_like_its_reference(string repository, string export, string onnxFile)
    {
        // The references were computed by ONNX Runtime at each file's own MatMulNBits accuracy level (-1: as the file says).
        var onnx = new OnnxBackendOptions { HubRepository = repository, HubRevision = "main", OnnxFile = onnxFile, Int8Form = Int8Form.MatMulNBits, MatMulNBitsAccuracyLevel = -1 };
        var directory = await Files().ResolveAsync(onnx, Hub(), CancellationToken.None);
        using var reference = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestEnvironment.TinyExports, export, "reference.json")));
        var texts = reference.RootElement.GetProperty("texts").EnumerateArray().Select(t => t.GetString()!).ToList();
        var expected = reference.RootElement.GetProperty("files").GetProperty(onnxFile).GetProperty("embeddings").EnumerateArray()
            .Select(v => v.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToList();

        using var backend = new OnnxQwen3Backend(directory, onnx);
        // One right-padded batch of texts of different lengths: positions and masks must be right for every row.
        var vectors = await backend.EmbedAsync(texts.Select(t => backend.Tokenize(t, false)).ToList(), CancellationToken.None);

        Assert.Equal(onnxFile, backend.ModelFile);
        for (var i = 0; i < texts.Count; i++)
        {
            var cosine = VectorMath.Cosine(vectors[i], expected[i]);
            Assert.True(cosine >= 0.9999, $"{export}/{onnxFile} '{texts[i]}': cosine {cosine} to its reference");
        }
        // Only what this file needs came down: not the repository's other ONNX files.
        var fetched = Directory.EnumerateFiles(directory, "*.onnx*", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).StartsWith('.'))  // the download's own markers
            .Select(f => Path.GetRelativePath(directory, f).Replace('\\', '/'));
        Assert.All(fetched, f => Assert.StartsWith(onnxFile, f));
    }

    [Fact]
    public async Task Downloads_once_verifies_and_needs_no_hub_afterwards()
    {
        var onnx = new OnnxBackendOptions { HubRepository = "acme/tiny" };
        var directory = await Files().ResolveAsync(onnx, Hub(), CancellationToken.None);

        Assert.True(File.Exists(Path.Combine(directory, "model.onnx")));
        Assert.False(File.Exists(Path.Combine(directory, "reference.json")));
        var downloads = _hub.Downloads.Count;
        await _hub.DisposeAsync();  // the second resolve must not need the hub
        Assert.Equal(directory, await Files().ResolveAsync(onnx, Hub(), CancellationToken.None));
        Assert.Equal(downloads, _hub.Downloads.Count);
        _hub = await FakeHub.StartAsync();
    }

    [Fact]
    public async Task A_corrupt_download_is_rejected_and_deleted()
    {
        _hub.Corrupt.Add("model.onnx");

        var error = await Assert.ThrowsAsync<InvalidDataException>(() =>
            Files().ResolveAsync(new OnnxBackendOptions { HubRepository = "acme/tiny" }, Hub(), CancellationToken.None));

        Assert.Contains("model.onnx", error.Message);
        Assert.Empty(Directory.GetFiles(_cache, "model.onnx*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_dropped_connection_resumes_where_it_stopped()
    {
        _hub.CutAfter["onnx/model.onnx_data"] = 300_000;
        var onnx = new OnnxBackendOptions { HubRepository = "qdrant/tiny-onnx", OnnxFile = "onnx/model.onnx" };

        var directory = await Files().ResolveAsync(onnx, Hub(), CancellationToken.None);

        var requests = _hub.Downloads.Where(d => d.Path == "onnx/model.onnx_data").ToList();
        Assert.Equal(2, requests.Count);
        Assert.Equal("", requests[0].Range);
        Assert.StartsWith("bytes=", requests[1].Range);
        Assert.True(long.Parse(requests[1].Range["bytes=".Length..].TrimEnd('-')) > 0, requests[1].Range);  // not from byte 0
        using var backend = new OnnxQwen3Backend(directory, onnx);  // and the file is whole
        Assert.Equal(128, backend.Dimensions);
    }

    [Fact]
    public async Task A_private_repository_needs_the_token_which_never_reaches_file_storage()
    {
        _hub.RequiredToken = "hf_secret";
        var onnx = new OnnxBackendOptions { HubRepository = "acme/tiny" };

        var refused = await Assert.ThrowsAsync<ModelUnavailableException>(() => Files().ResolveAsync(onnx, Hub(), CancellationToken.None));
        Assert.Contains("HF_TOKEN", refused.Message);

        await Files().ResolveAsync(onnx, Hub(token: "hf_secret"), CancellationToken.None);
        Assert.NotEmpty(_hub.StorageAuthorization);
        Assert.All(_hub.StorageAuthorization, a => Assert.Null(a));
    }

    [Fact]
    public async Task Without_network_the_reason_says_what_to_do()
    {
        var offline = new HubOptions { Endpoint = $"http://127.0.0.1:{TestEnvironment.ClosedPort()}", CacheDirectory = _cache };

        var error = await Assert.ThrowsAsync<ModelUnavailableException>(() =>
            Files().ResolveAsync(new OnnxBackendOptions { HubRepository = "Qdrant/Qwen3-Embedding-0.6B-onnx" }, offline, CancellationToken.None));

        Assert.Contains("Qdrant/Qwen3-Embedding-0.6B-onnx", error.Message);
        Assert.Contains("OnnxModelPath", error.Message);
        Assert.Contains("HF_ENDPOINT", error.Message);
    }

    [Fact]
    public async Task A_missing_onnx_file_names_the_files_there_are()
    {
        var error = await Assert.ThrowsAsync<ModelUnavailableException>(() => Files().ResolveAsync(
            new OnnxBackendOptions { HubRepository = "qdrant/tiny-onnx", OnnxFile = "onnx/model_int4.onnx" }, Hub(), CancellationToken.None));

        Assert.Contains("onnx/model_quantized.onnx", error.Message);
    }

    [Fact]
    public async Task Two_processes_fetching_at_once_download_each_file_once()
    {
        var onnx = new OnnxBackendOptions { HubRepository = "acme/tiny" };

        var directories = await Task.WhenAll(Files().ResolveAsync(onnx, Hub(), CancellationToken.None), Files().ResolveAsync(onnx, Hub(), CancellationToken.None));

        Assert.Equal(directories[0], directories[1]);
        Assert.Single(_hub.Downloads, d => d.Path == "model.onnx");
    }

    [Fact]
    public async Task A_gpu_tier_fetches_only_its_tokenizer_and_counts_exactly()
    {
        var directory = await Files().ResolveTokenizerAsync("qdrant/tiny-onnx", "main", Hub(), CancellationToken.None);

        Assert.Empty(Directory.GetFiles(directory, "*.onnx*", SearchOption.AllDirectories));
        var tokenizer = new Qwen3Tokenizer(directory);
        Assert.Equal(new Qwen3Tokenizer(TestEnvironment.TinyModel).Encode("hello world"), tokenizer.Encode("hello world"));
    }

    [Fact]
    public async Task A_tier_whose_model_cannot_be_had_answers_503_model_unavailable_with_the_reason_at_once()
    {
        await using var stack = new EmbeddingStack(worker: new()
        {
            ["Worker:Onnx:ModelPath"] = "",
            ["Worker:Onnx:HubRepository"] = "Qdrant/Qwen3-Embedding-0.6B-onnx",
            ["Worker:Onnx:OnnxFile"] = "onnx/model_quantized.onnx",
        });

        var started = System.Diagnostics.Stopwatch.StartNew();
        using var response = await stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = "hello" });

        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(20), $"answered after {started.Elapsed}: a timeout, not the worker's answer");
        Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
        Assert.Equal("model_unavailable", error.GetProperty("code").GetString());
        Assert.Contains("Qdrant/Qwen3-Embedding-0.6B-onnx", error.GetProperty("message").GetString());
        Assert.Contains("OnnxModelPath", error.GetProperty("message").GetString());
        // The worker says so in its health too (the dashboard shows it), without being restarted for it.
        using var health = await stack.WorkerClient(0).GetAsync("/health");
        Assert.Equal("Degraded", await health.Content.ReadAsStringAsync());
    }
}
