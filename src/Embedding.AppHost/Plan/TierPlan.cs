using Embedding.Contracts;
using Embedding.Scaling;
using Embedding.Worker;

namespace Embedding.AppHost;

/// <summary>
/// What one tier becomes: its entry in the API's model list, its queue-scaled workers' options, the SGLang engine beside
/// them where it runs on a GPU, and an always-on CPU standby. <see cref="For"/> is the one place that knows how a tier's
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

    /// <summary>
    /// The plan of <paramref name="tier"/>: on its SGLang engine where <paramref name="onGpu"/>, else on CPU from its ONNX
    /// export. Run here, local model directories are resolved against <paramref name="appHostDirectory"/>; published,
    /// models live on volumes.
    /// </summary>
    public static TierPlan For(TierSettings tier, EmbeddingSettings settings, bool onGpu, PlanMode mode, string appHostDirectory)
    {
        var listing = new ModelIdentity { Name = tier.Name, Aliases = [.. tier.Aliases], Dimensions = tier.Dimensions, Matryoshka = tier.Matryoshka };
        var scaling = settings.Scaling.For(tier.Scaling);
        if (!onGpu)
        {
            var model = tier.CpuModel ?? throw new InvalidOperationException($"Tier '{tier.Name}' runs on CPU and needs OnnxModelPath or HubRepository.");
            return new(tier, listing, scaling, OnnxWorker(tier, model, settings, mode, appHostDirectory), null, null);
        }

        var worker = TierWorker(tier);
        worker.Backend = BackendKind.OpenAI;  // SGLang speaks OpenAI's /v1/embeddings
        worker.OpenAI.BaseUrl = SglangEngine.LocalUrl;
        worker.OpenAI.Model = tier.EngineModel;
        worker.OpenAI.Dimensions = tier.Dimensions;
        worker.OpenAI.ContextLength = SglangEngine.ContextLength(tier);
        worker.OpenAI.Dtype = SglangEngine.Dtype(tier, settings.Gpu);
        // Clients see the limit as the engine counts it, and the API answers from its cache only vectors the engine made
        // (not a CPU standby's, whose numbers differ).
        listing.InputTokenLimit = worker.OpenAI.MaxInputTokens;
        listing.Numerics = BackendNumerics.Engine(worker.OpenAI);
        worker.MaxConcurrentBatches = 2;  // one batch on the GPU, the next one ready

        WorkerPlan? standby = null;
        if (tier.Standby is { } settingsOfStandby)
        {
            var model = settingsOfStandby.ModelOf(tier) ?? throw new InvalidOperationException($"Tier '{tier.Name}': its standby needs an ONNX export (OnnxModelPath or HubRepository).");
            var plan = OnnxWorker(tier, model, settings, mode, appHostDirectory);
            plan.Options.ConsumerPriority = -1;  // takes messages only while no GPU worker can
            standby = plan with { Replicas = settingsOfStandby.Replicas };
        }
        return new(tier, listing, scaling, new WorkerPlan(worker, [], FromHub: false, mode), SglangEngine.For(tier, settings.Gpu), standby);
    }

    /// <summary>What every worker of the tier has: its name (and so its queue) and its batching.</summary>
    private static WorkerOptions TierWorker(TierSettings tier)
    {
        var options = new WorkerOptions { Model = tier.Name };
        if (tier.MaxBatchTokens is { } tokens) options.MaxBatchTokens = tokens;
        if (tier.MaxWaitMilliseconds is { } wait) options.MaxWaitMilliseconds = wait;
        return options;
    }

    private static WorkerPlan OnnxWorker(TierSettings tier, OnnxModelSource model, EmbeddingSettings settings, PlanMode mode, string appHostDirectory)
    {
        var options = TierWorker(tier);
        options.Backend = BackendKind.Onnx;
        if (!string.IsNullOrWhiteSpace(model.OnnxFile)) options.Onnx.OnnxFile = model.OnnxFile;
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
