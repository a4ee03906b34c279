using Embedding.Worker.Backends;
using Embedding.Worker.Extensions;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.MapDefaultEndpoints();

// Load (or download) the model before the bus starts: a worker takes messages only once it can answer them.
app.Services.GetRequiredService<IEmbeddingBackend>();

app.Run();

