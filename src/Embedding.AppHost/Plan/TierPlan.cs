using Embedding.AppHost.Kubernetes;
using Embedding.Contracts;
using Embedding.Scaling;
using Embedding.Worker;

namespace Embedding.AppHost;

/// <summary>
/// What one tier becomes: its entry in the API's model list, its queue-scaled workers' options, the SGLang engine beside
/// them where it runs on a GPU (a CUDA tier's workers hold the GPU themselves: <see cref="WorkerPlan.Gpu"/>), and an
/// always-on CPU standby. <see cref="For"/> is the one place that knows how a tier's
/// settings become processes; the AppHost, the Kubernetes manifests and infra/tier-plan.json (Azure, the scale unit)
/// all write what it returns.
/// </summary>
public sealed record TierPlan(TierSettings Tier, ModelIdentity Listing, ScalingPolicy Scaling, WorkerPlan Worker, SglangEngine? Engine, WorkerPlan? Standby)
{
    private const string ModelCacheMount = "/model-cache";
    private const string ModelsMount = "/models";

    public string Queue => EmbeddingQueues.ForModel(Tier.Name);

    /// <summary>The API's entry for this tier as configuration keys under <paramref name="section"/> (e.g. Api:Models:0).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> ListingSettings(string section) =>
        ConfigurationKeys.Of(Listing, section, l => l.Name, l => l.Dimensions);

    /// <summary>Run here, a worker whose model comes from the hub has it fetched first by a model-{tier} resource.</summary>
    public WorkerPlan? Download => new[] { Worker, Standby }.FirstOrDefault(w => w is { FromHub: true, Mode: PlanMode.Run });

    /// <summary>The image of a worker that runs its ONNX model on CUDA: deploy/cuda-worker/Dockerfile.</summary>
    public const string CudaWorkerImage = "embedding-cuda-worker";

    /// <summary>
    /// The plan of <paramref name="tier"/>: on its GPU where <paramref name="onGpu"/> (its SGLang engine, or its ONNX model
    /// on CUDA in the worker itself), else on CPU from its ONNX export. Run here, local model directories are resolved
    /// against <paramref name="appHostDirectory"/>; published, models live on volumes. <paramref name="bf16"/>: whether
    /// the card has bf16, where the tier's own card does not say (Azure's profile decides at deployment).
    /// </summary>
    public static TierPlan For(TierSettings tier, EmbeddingSettings settings, bool onGpu, PlanMode mode, string appHostDirectory, bool? bf16 = null)
    {
        // A reranker's "vector" is its one score: listed with one dimension that no request may cut.
        var reranker = tier.Kind == ModelKind.Reranker;
        var listing = new ModelIdentity
        {
            Name = tier.Name, Kind = tier.Kind, Aliases = [.. tier.Aliases],
            Dimensions = reranker ? 1 : tier.Dimensions, Matryoshka = !reranker && tier.Matryoshka,
        };
        var scaling = settings.Scaling.For(tier.Scaling);
        if (onGpu && tier.IsCudaTier)
            return new(tier, listing, scaling, CudaWorker(tier, listing, settings, mode, appHostDirectory), null, StandbyWorker(tier, settings, mode, appHostDirectory));
        if (!onGpu)
        {
            var model = tier.CpuModel ?? throw new InvalidOperationException(tier.IsCudaTier
                ? $"Tier '{tier.Name}' runs its ONNX export on CUDA and is served only where Embedding:Gpu:Enabled is true."
                : $"Tier '{tier.Name}' runs on CPU and needs OnnxModelPath or HubRepository.");
            return new(tier, listing, scaling, OnnxWorker(tier, model, settings, mode, appHostDirectory), null, null);
        }

        var onBf16 = bf16 ?? tier.GpuType?.Bf16 ?? true;
        var worker = TierWorker(tier);
        worker.Backend = BackendKind.OpenAI;  // SGLang speaks OpenAI's /v1/embeddings
        worker.OpenAI.BaseUrl = SglangEngine.LocalUrl;
        worker.OpenAI.Model = tier.EngineModel;
        worker.OpenAI.Dimensions = tier.Dimensions;
        worker.OpenAI.ContextLength = SglangEngine.ContextLength(tier);
        worker.OpenAI.Dtype = SglangEngine.Dtype(settings.Gpu, onBf16);
        // Clients see the limit as the engine counts it, and the API answers from its cache only vectors the engine made
        // (not a CPU standby's, whose numbers differ).
        listing.InputTokenLimit = worker.OpenAI.MaxInputTokens;
        listing.Numerics = BackendNumerics.Engine(worker.OpenAI);
        worker.MaxConcurrentBatches = 2;  // one batch on the GPU, the next one ready
        return new(tier, listing, scaling, new WorkerPlan(worker, [], FromHub: false, mode), SglangEngine.For(tier, settings.Gpu, onBf16),
                   StandbyWorker(tier, settings, mode, appHostDirectory));
    }

    /// <summary>
    /// A CUDA tier's worker: its ONNX export on the tier's GPU, batched as measured on an H200
    /// (bench/results/cuda-onnx-2026-12-02.md): 8,192 padded tokens a batch reach 51-58k tokens/s in both runs (2,048: 49k),
    /// up to 256 texts so that short texts fill the budget too, one batch at a time (one Run per GPU). The tier's own
    /// MaxBatchTokens wins.
    /// </summary>
    private static WorkerPlan CudaWorker(TierSettings tier, ModelIdentity listing, EmbeddingSettings settings, PlanMode mode, string appHostDirectory)
    {
        var plan = OnnxWorker(tier, tier.OnnxModel ?? throw new InvalidOperationException($"Tier '{tier.Name}' runs its ONNX export on CUDA and needs OnnxModelPath or HubRepository (tools/gpu-export writes one)."),
                              settings, mode, appHostDirectory);
        var options = plan.Options;
        options.Onnx.Device = OnnxDevice.Cuda;  // the pod's one GPU: device 0
        options.MaxBatchTokens = tier.MaxBatchTokens ?? 8192;
        options.MaxBatchSize = 256;
        options.MaxConcurrentBatches = 1;
        // The identity the worker answers with, where the file it runs is named (else resolved at load and learned): so a
        // CPU standby's vectors never answer for the GPU's.
        if (options.Onnx.OnnxFile is { Length: > 0 } file) listing.Numerics = BackendNumerics.Onnx(options.Onnx, options.Onnx.ModelPath ?? "", file);
        return plan with { Gpu = new GpuAnnotation(tier.GpuType?.KubernetesProduct), Image = CudaWorkerImage };
    }

    /// <summary>A GPU tier's always-on CPU standby, where it has one: its ONNX export at a lower consumer priority.</summary>
    private static WorkerPlan? StandbyWorker(TierSettings tier, EmbeddingSettings settings, PlanMode mode, string appHostDirectory)
    {
        if (tier.Standby is not { } standby) return null;
        var model = standby.ModelOf(tier) ?? throw new InvalidOperationException($"Tier '{tier.Name}': its standby needs an ONNX export (OnnxModelPath or HubRepository).");
        var plan = OnnxWorker(tier, model, settings, mode, appHostDirectory);
        plan.Options.ConsumerPriority = -1;  // takes messages only while no GPU worker can
        return plan with { Replicas = standby.Replicas };
    }

    /// <summary>What every worker of the tier has: its name (and so its queue), what its model does, and its batching.</summary>
    private static WorkerOptions TierWorker(TierSettings tier)
    {
        var options = new WorkerOptions { Model = tier.Name, Kind = tier.Kind };
        if (tier.MaxBatchTokens is { } tokens) options.MaxBatchTokens = tokens;
        if (tier.MaxWaitMilliseconds is { } wait) options.MaxWaitMilliseconds = wait;
        return options;
    }

    private static WorkerPlan OnnxWorker(TierSettings tier, OnnxModelSource model, EmbeddingSettings settings, PlanMode mode, string appHostDirectory)
    {
        var options = TierWorker(tier);
        options.Backend = BackendKind.Onnx;
        if (!string.IsNullOrWhiteSpace(model.OnnxFile)) options.Onnx.OnnxFile = model.OnnxFile;
        if (tier.Int8Form is { } int8Form) options.Onnx.Int8Form = int8Form;
        var volumes = new List<ModelVolume>();
        if (model.FromHub)
        {
            options.Onnx.HubRepository = model.HubRepository;
            if (!string.IsNullOrWhiteSpace(model.HubRevision)) options.Onnx.HubRevision = model.HubRevision;
            // A mirror for this AppHost's workers alone (tests: no hub at all); unset, the workers' HF_ENDPOINT.
            if (settings.HubEndpoint is { Length: > 0 } endpoint) options.Hub.Endpoint = endpoint;
            // Deployed, replicas share the downloaded files on a claim of their own: a replica started from zero loads them
            // instead of fetching 1 GB again (the cache's lock and verified, atomically moved files make sharing safe).
            if (mode == PlanMode.Publish)
            {
                options.Hub.CacheDirectory = ModelCacheMount;
                volumes.Add(new ModelVolume("model-cache", ModelCacheMount, ReadOnly: false));
            }
        }
        else if (mode == PlanMode.Publish)
        {
            // Deployed, the model directory is on a mounted volume, under its own name.
            options.Onnx.ModelPath = $"{ModelsMount}/{Path.GetFileName(Path.TrimEndingDirectorySeparator(model.LocalPath!))}";
            volumes.Add(new ModelVolume("models", ModelsMount, ReadOnly: true));
        }
        else
        {
            options.Onnx.ModelPath = Path.GetFullPath(model.LocalPath!, appHostDirectory);
        }
        return new WorkerPlan(options, volumes, model.FromHub, mode);
    }
}
