using Embedding.Worker;
using Embedding.Worker.Backends;
using Embedding.Worker.Extensions;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.MapDefaultEndpoints();

// Load (or download) the model, or wait for the engine to report healthy, before the bus starts:
// a worker takes messages only once it can answer them. Until then they wait on the queue.
var backend = app.Services.GetRequiredService<IEmbeddingBackend>();
app.Logger.LogInformation("Waiting for the embedding engine to be ready");
await backend.WaitUntilReadyAsync(app.Lifetime.ApplicationStopping);

// Cold starts and replicas, for the dashboard: how long this start took, and one more worker taking messages.
var metrics = app.Services.GetRequiredService<WorkerMetrics>();
app.Lifetime.ApplicationStarted.Register(() => metrics.Started(DateTime.Now - System.Diagnostics.Process.GetCurrentProcess().StartTime));
app.Lifetime.ApplicationStopping.Register(metrics.Stopped);

app.Run();

