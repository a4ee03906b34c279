using Embedding.Api.Apis;
using Embedding.Api.Extensions;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.UseRequestMetrics();
app.UseOpenAIErrors();
app.UseApiAccess();
app.MapDefaultEndpoints();
app.MapEmbeddingsApi();
app.MapRerankApi();
app.MapFilesApi();
app.MapBatchesApi();
app.Run();

