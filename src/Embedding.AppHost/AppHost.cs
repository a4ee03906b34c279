using Embedding.AppHost;
using Embedding.AppHost.Kubernetes;
using Embedding.AppHost.Scaling;
using Embedding.Contracts;
using Microsoft.Extensions.Configuration;

// The architecture, top to bottom:
//   client -> api (OpenAI /v1/embeddings, port 5080) -> cache (Redis) -> messaging (RabbitMQ)
//          -> one worker per model tier, each on its own queue -> its model (in-process ONNX, or an SGLang GPU engine)
// Workers scale with their queue's depth, down to zero (Embedding:Scaling; the same policy is published for Kubernetes and Azure).
var builder = DistributedApplication.CreateBuilder(args);
var embedding = (builder.Configuration.GetSection("Embedding").Get<EmbeddingSettings>() ?? new EmbeddingSettings()).Validated();

// Infrastructure: Aspire's container resources where a container engine runs (and always when
// publishing a manifest); otherwise the Debian packages' servers as local processes on loopback.
var useContainers = builder.ExecutionContext.IsPublishMode || (embedding.UseContainers ?? ContainerEngine.IsAvailable());
var (cache, (messaging, management)) = useContainers
    ? (builder.AddRedis("cache").AsConnectionString(), builder.AddRabbitMQBroker("messaging"))
    : (builder.AddLocalRedis("cache", embedding.LocalRedisPort), builder.AddLocalRabbitMQ("messaging", embedding.LocalRabbitMqPort));

// The API: cache in front, queues behind, every served tier listed; batch jobs on storage of their own.
var api = builder.AddProject<Projects.Embedding_Api>("api")
    .WithReference(cache).WaitFor(cache)
    .WithReference(messaging).WaitFor(messaging)
    .WithBatchStorage()
    .WithExternalHttpEndpoints()
    .WithHealthProbe("/health")
    .WithPrometheusWhenPublished();

// Workers: one per model tier, each consuming only its tier's queue. GPU tiers run next to an SGLang engine where a GPU
// is switched on (Embedding:Gpu:Enabled), optionally with an always-on CPU standby of the same model at a lower consumer
// priority; elsewhere a GPU tier with an ONNX export of its model runs that on CPU. Models from the hub are fetched by a
// model-{tier} resource first. CPU tiers always run.
var tiers = embedding.ServedTiers().ToList();
for (var i = 0; i < tiers.Count; i++)
{
    var tier = tiers[i];
    var worker = builder.AddProject<Projects.Embedding_Worker>($"worker-{tier.ResourceName}")
        .WithReference(messaging).WaitFor(messaging)
        .WithTier(tier)
        .WithPrometheusWhenPublished()
        .WithQueueScaling(EmbeddingQueues.ForModel(tier.Name), embedding.Scaling.For(tier.Scaling), messaging, management);
    if (embedding.RunsOnGpu(tier))
    {
        var engine = builder.AddSglangEngine($"sglang-{tier.ResourceName}", tier, embedding.Gpu);
        worker.WithEngine(engine, tier).WaitFor(engine);
        if (tier.Standby is { } standby)
        {
            builder.AddProject<Projects.Embedding_Worker>($"worker-{tier.ResourceName}-standby")
                .WithReference(messaging).WaitFor(messaging)
                .WithTier(tier)
                .AsStandby(tier, standby)
                .WithPrometheusWhenPublished();
            if (standby.ModelOf(tier) is { } standbyModel) builder.AddModelDownload(tier, standbyModel);
        }
    }
    else
    {
        worker.WithOnnxModel(tier);
        builder.AddModelDownload(tier, tier.CpuModel!);
    }
    api.WithModel(i, tier);
}

// `--publisher kubernetes --output-path DIR` writes Kubernetes + KEDA manifests from this same model instead of running it.
var app = builder.Build();
if (await app.PublishKubernetesIfAskedAsync(builder.Configuration, embedding.Kubernetes)) return;
app.Run();
