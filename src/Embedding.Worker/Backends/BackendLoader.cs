using Embedding.Worker.Model;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Embedding.Worker.Backends;

/// <summary>
/// Creates the configured backend once, at start. Loading may download a model (minutes), so it is an async step the
/// worker awaits before taking messages, not a DI factory. Where the model cannot be had, the worker starts anyway with
/// an <see cref="UnavailableBackend"/>: it answers with the reason, and its health says Degraded with that reason.
/// </summary>
public sealed class BackendLoader(IOptions<WorkerOptions> options, ModelFiles files, IHttpClientFactory httpClients, ILogger<BackendLoader> logger)
    : IHealthCheck
{
    private IEmbeddingBackend? _backend;

    public IEmbeddingBackend Backend => _backend ?? throw new InvalidOperationException("The backend was asked for before it was loaded.");

    public async Task<IEmbeddingBackend> LoadAsync(CancellationToken ct)
    {
        var o = options.Value;
        try
        {
            _backend = (o.StandIn, o.Backend) switch
            {
                (null, BackendKind.Onnx) => await LoadOnnxAsync(o, ct),
                (null, BackendKind.OpenAI) => await LoadEngineClientAsync(o, ct),
                (StandInKind.SimulatedGpu, _) => Warn(new SimulatedGpuBackend(o.SimulatedGpu),
                    "SIMULATED GPU backend: timing from a latency model, vectors are hashes. For benchmarks only."),
                (StandInKind.Fake, _) => Warn(new FakeBackend(o.Fake),
                    "FAKE backend: vectors are hashes of the text, not embeddings. Use it only to measure overhead."),
                _ => throw new InvalidOperationException($"Worker:Backend {o.Backend} / Worker:StandIn {o.StandIn} is not a backend this worker knows."),
            };
        }
        catch (Exception ex) when (ModelUnavailableException.Explains(ex) || ex is Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            logger.LogError("Model for '{Model}' is unavailable: {Reason}. Requests to this tier are answered with 503 model_unavailable.", o.Model, ex.Message);
            _backend = new UnavailableBackend(ex.Message);
        }
        return _backend;
    }

    private async Task<IEmbeddingBackend> LoadOnnxAsync(WorkerOptions o, CancellationToken ct)
    {
        var directory = await files.ResolveAsync(o.Onnx, o.Hub, ct);
        var onnx = new OnnxQwen3Backend(directory, o.Onnx);
        logger.LogInformation("ONNX backend ready: {Directory}/{File}, {Dimensions} dims, context {Context} tokens",
            directory, onnx.ModelFile, onnx.Dimensions, onnx.MaxInputTokens);
        if (Directory.EnumerateFiles(directory, "reference*.json").Any())
            logger.LogWarning("Serving the TEST model in {Directory}: random weights, vectors without meaning. " +
                              "Configure a real Qwen3-Embedding ONNX export for real embeddings (see README).", directory);
        return onnx;
    }

    /// <summary>The engine's client, counting tokens with the engine model's own tokenizer where one can be had.</summary>
    private async Task<IEmbeddingBackend> LoadEngineClientAsync(WorkerOptions o, CancellationToken ct)
    {
        string? tokenizer = o.OpenAI.TokenizerPath;
        if (string.IsNullOrWhiteSpace(tokenizer))
        {
            try
            {
                tokenizer = await files.ResolveTokenizerAsync(o.OpenAI.Model!, o.OpenAI.TokenizerRevision, o.Hub, ct);
            }
            catch (Exception ex) when (ModelUnavailableException.Explains(ex))
            {
                // Logged once, here: every count of this worker is then an estimate (usage, quotas, truncation, batches).
                logger.LogWarning("No tokenizer for {Model} ({Reason}); token counts are ESTIMATED (about 3 characters a token) until " +
                                  "Worker:OpenAI:TokenizerPath points at a directory with its tokenizer.json.", o.OpenAI.Model, ex.Message);
                tokenizer = null;
            }
        }
        var http = httpClients.CreateClient(nameof(OpenAICompatibleBackend));
        logger.LogInformation("OpenAI-compatible backend: {BaseUrl}, model {Model}, tokenizer {Tokenizer}", o.OpenAI.BaseUrl, o.OpenAI.Model, tokenizer ?? "(estimate)");
        return new OpenAICompatibleBackend(http, o.OpenAI, tokenizer is null ? null : new Qwen3Tokenizer(tokenizer));
    }

    private IEmbeddingBackend Warn(IEmbeddingBackend backend, string warning)
    {
        logger.LogWarning(warning);
        return backend;
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(_backend switch
        {
            null => HealthCheckResult.Unhealthy("Loading the model."),
            UnavailableBackend u => HealthCheckResult.Degraded($"Model unavailable: {u.Reason}"),
            _ => HealthCheckResult.Healthy(),
        });
}
