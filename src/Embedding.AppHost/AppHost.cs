using Embedding.AppHost;
using Embedding.AppHost.Kubernetes;
using Embedding.AppHost.Scaling;
using Microsoft.Extensions.Configuration;

// The architecture, top to bottom:
//   client -> api (OpenAI /v1/embeddings, port 5080; batch jobs in PostgreSQL) -> cache (Redis) -> messaging (RabbitMQ)
//          -> one worker per model tier, each on its own queue -> its model (in-process ONNX, or an SGLang GPU engine)
// Workers scale with their queue's depth, down to zero (Embedding:Scaling; the same policy is published for Kubernetes and Azure).
var builder = DistributedApplication.CreateBuilder(args);
var embedding = (builder.Configuration.GetSection("Embedding").Get<EmbeddingSettings>() ?? new EmbeddingSettings()).Validated();
// `--publisher tier-plan`: the GPU tiers' plans for infra/ (Azure), instead of running anything.
if (await TierPlanFile.WriteIfAskedAsync(builder.Configuration, embedding, builder.AppHostDirectory)) return;

// Infrastructure: Aspire's container resources where a container engine runs (and always when
// publishing a manifest); otherwise the Debian packages' servers as local processes on loopback.
var useContainers = builder.ExecutionContext.IsPublishMode || (embedding.UseContainers ?? ContainerEngine.IsAvailable());
var (cache, (messaging, management)) = useContainers
    ? (builder.AddRedis("cache").AsConnectionString(), builder.AddRabbitMQBroker("messaging"))
    : (builder.AddLocalRedis("cache", embedding.LocalRedisPort), builder.AddLocalRabbitMQ("messaging", embedding.LocalRabbitMqPort));
// Batch jobs' database, shared by every API replica (their files: WithBatchStorage).
var postgres = useContainers ? builder.AddPostgresServer("postgres") : builder.AddLocalPostgres("postgres", embedding.LocalPostgresPort);

// The API: cache in front, queues behind, every served tier listed; batch jobs on storage of their own.
var api = builder.AddProject<Projects.Embedding_Api>("api")
    .WithReference(cache).WaitFor(cache)
    .WithReference(messaging).WaitFor(messaging)
    .WithReference(postgres, ApiResourceExtensions.BatchesConnectionName).WaitFor(postgres)
    .WithBatchStorage()
    .WithApiReplicas(embedding)
    .WithExternalHttpEndpoints()
    .WithHealthProbe("/health")
    .WithPrometheusWhenPublished();

// Workers: one per model tier, each consuming only its tier's queue, as its plan (TierPlan) says: GPU tiers next to an
// SGLang engine where a GPU is switched on (Embedding:Gpu:Enabled), optionally with an always-on CPU standby of the same
// model at a lower consumer priority; elsewhere a GPU tier with an ONNX export of its model runs that on CPU. Models from
// the hub are fetched by a model-{tier} resource first. CPU tiers always run.
var mode = builder.ExecutionContext.IsPublishMode ? PlanMode.Publish : PlanMode.Run;
var plans = embedding.Plans(mode, builder.AppHostDirectory).ToList();
for (var i = 0; i < plans.Count; i++)
{
    var plan = plans[i];
    var worker = builder.AddWorker($"worker-{plan.Tier.ResourceName}", plan.Worker)
        .WithReference(messaging).WaitFor(messaging)
        .WithPrometheusWhenPublished()
        .WithQueueScaling(plan.Queue, plan.Scaling, messaging, management);
    if (plan.Engine is { } engine) worker.WithEngine(builder.AddSglangEngine($"sglang-{plan.Tier.ResourceName}", engine), engine);
    if (plan.Standby is { } standby)
        builder.AddWorker($"worker-{plan.Tier.ResourceName}-standby", standby)
            .WithReference(messaging).WaitFor(messaging)
            .WithPrometheusWhenPublished();
    builder.AddModelDownload(plan);
    api.WithModel(i, plan);
}

// `--publisher kubernetes --output-path DIR` writes Kubernetes + KEDA manifests from this same model instead of running it.
var app = builder.Build();
if (await app.PublishKubernetesIfAskedAsync(builder.Configuration, embedding.Kubernetes)) return;
app.Run();
