using Embedding.Worker.Batching;
using Embedding.Worker.Model;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Embedding.Worker.Backends;

/// <summary>
/// Creates the configured backend once, at start. Loading may download a model (minutes), so it is an async step the
/// worker awaits before taking messages, not a DI factory. Where the model cannot be had, the worker starts anyway with
/// an <see cref="UnavailableBackend"/>: it answers with the reason, and its health says Degraded with that reason.
/// A reranker worker (Worker:Kind Reranker) loads a reranker (<see cref="Reranker"/>) from the same settings
/// (Worker:Onnx:*, or Worker:StandIn Fake); the batcher runs it through <see cref="RerankerBatches"/>.
/// </summary>
public sealed class BackendLoader(IOptions<WorkerOptions> options, ModelFiles files, IHttpClientFactory httpClients, ILogger<BackendLoader> logger)
    : IHealthCheck
{
    private IEmbeddingBackend? _backend;
    private IRerankerBackend? _reranker;

    /// <summary>What the batcher runs: the embedding model, or the reranker's scores as one-value vectors.</summary>
    public IEmbeddingBackend Backend => _backend ?? throw new InvalidOperationException("The backend was asked for before it was loaded.");

    /// <summary>The reranker of a reranker worker; on an embedding worker, one that answers that this worker embeds.</summary>
    public IRerankerBackend Reranker => _reranker ?? (_backend is null
        ? throw new InvalidOperationException("The backend was asked for before it was loaded.")
        : new UnavailableBackend($"this worker serves the embedding model '{options.Value.Model}', not a reranker"));

    public async Task<IEmbeddingBackend> LoadAsync(CancellationToken ct)
    {
        var o = options.Value;
        if (o.Kind == Embedding.Contracts.ModelKind.Reranker) return await LoadRerankerAsync(o, ct);
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

    private async Task<IEmbeddingBackend> LoadRerankerAsync(WorkerOptions o, CancellationToken ct)
    {
        try
        {
            _reranker = (o.StandIn, o.Backend) switch
            {
                (null, BackendKind.Onnx) => await LoadOnnxRerankerAsync(o, ct),
                (StandInKind.Fake, _) => WarnReranker(new FakeReranker(o.Fake),
                    "FAKE reranker: scores are word overlaps of query and document, not a model's. Use it only to measure overhead."),
                _ => throw new ModelUnavailableException(
                    $"Worker:Backend {o.Backend} / Worker:StandIn {o.StandIn} cannot serve a reranker: a reranker tier runs on the ONNX backend " +
                    "(Worker:Backend Onnx, on Cpu or Cuda) or the Fake stand-in."),
            };
        }
        catch (Exception ex) when (ModelUnavailableException.Explains(ex) || ex is Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            logger.LogError("Reranker for '{Model}' is unavailable: {Reason}. Requests to this tier are answered with 503 model_unavailable.", o.Model, ex.Message);
            _reranker = new UnavailableBackend(ex.Message);
        }
        _backend = _reranker is UnavailableBackend unavailable ? unavailable : new RerankerBatches(_reranker);
        return _backend;
    }

    private async Task<IRerankerBackend> LoadOnnxRerankerAsync(WorkerOptions o, CancellationToken ct)
    {
        var directory = await files.ResolveAsync(o.Onnx, o.Hub, ct);
        var onnx = new OnnxQwen3Reranker(directory, o.Onnx);
        logger.LogInformation("ONNX reranker ready: {Directory}/{File}, {Form} graph, pairs up to {Context} tokens on {Device}",
            directory, onnx.ModelFile, onnx.Form?.ToString() ?? "(form read at the first batch)", onnx.MaxInputTokens, o.Onnx.Device);
        if (Directory.EnumerateFiles(directory, "reference*.json").Any())
            logger.LogWarning("Serving the TEST reranker in {Directory}: random weights, scores without meaning. " +
                              "Convert Qwen3-Reranker with tools/gpu-export/export_qwen3_reranker.py for real scores (docs/reranking.md).", directory);
        return onnx;
    }

    private IRerankerBackend WarnReranker(IRerankerBackend reranker, string warning)
    {
        logger.LogWarning(warning);
        return reranker;
    }

    private async Task<IEmbeddingBackend> LoadOnnxAsync(WorkerOptions o, CancellationToken ct)
    {
        var directory = await files.ResolveAsync(o.Onnx, o.Hub, ct);
        var onnx = new OnnxQwen3Backend(directory, o.Onnx);
        logger.LogInformation("ONNX backend ready: {Directory}/{File}, {Dimensions} dims, context {Context} tokens, numerics {Numerics}",
            directory, onnx.ModelFile, onnx.Dimensions, onnx.MaxInputTokens, onnx.Numerics);
        if (onnx.NodesLeftAsIs.Count > 0)
            logger.LogWarning("{Count} MatMulNBits nodes stay as they are (Worker:Onnx:Int8Form DynamicInt8 cannot take them), e.g. {First}",
                onnx.NodesLeftAsIs.Count, onnx.NodesLeftAsIs[0]);
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
