using Embedding.AppHost;
using Microsoft.Extensions.Configuration;

// The architecture, top to bottom:
//   client -> api (OpenAI /v1/embeddings, port 5080) -> cache (Redis) -> messaging (RabbitMQ) -> worker -> model
var builder = DistributedApplication.CreateBuilder(args);
var embedding = builder.Configuration.GetSection("Embedding").Get<EmbeddingSettings>() ?? new EmbeddingSettings();

// Infrastructure: Aspire's container resources where a container engine runs (and always when
// publishing a manifest); otherwise the Debian packages' servers as local processes on loopback.
var useContainers = builder.ExecutionContext.IsPublishMode || (embedding.UseContainers ?? ContainerEngine.IsAvailable());
var (cache, messaging) = useContainers
    ? (builder.AddRedis("cache").AsConnectionString(), builder.AddRabbitMQ("messaging").WithManagementPlugin().AsConnectionString())
    : (builder.AddLocalRedis("cache", embedding.LocalRedisPort), builder.AddLocalRabbitMQ("messaging", embedding.LocalRabbitMqPort));

// Workers: one per model tier, each consuming only its tier's queue.
var worker = builder.AddProject<Projects.Embedding_Worker>("worker")
    .WithReference(messaging).WaitFor(messaging)
    .WithWorkerModel(embedding);

// The API: cache in front, queue behind.
builder.AddProject<Projects.Embedding_Api>("api")
    .WithReference(cache).WaitFor(cache)
    .WithReference(messaging).WaitFor(messaging)
    .WithApiModels(embedding)
    .WithExternalHttpEndpoints();

builder.Build().Run();
