using Embedding.Worker;
using Embedding.Worker.Backends;
using Embedding.Worker.Extensions;
using Embedding.Worker.Model;
using Microsoft.Extensions.Options;

// `download-model`: fetch the configured ONNX model's files into the cache and exit (0: ready; 1: unavailable, with the reason).
// The AppHost runs this as the tier's model resource, so the download shows in the dashboard before any worker starts.
if (args.FirstOrDefault() == "download-model") return await DownloadModel.RunAsync(args[1..]);

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.MapDefaultEndpoints();

// Load (or download) the model, or wait for the engine to report healthy, before the bus starts:
// a worker takes messages only once it can answer them. Until then they wait on the queue.
var backend = await app.Services.GetRequiredService<BackendLoader>().LoadAsync(app.Lifetime.ApplicationStopping);
app.Logger.LogInformation("Waiting for the embedding engine to be ready");
await backend.WaitUntilReadyAsync(app.Lifetime.ApplicationStopping);

// Cold starts and replicas, for the dashboard: how long this start took, and one more worker taking messages.
var metrics = app.Services.GetRequiredService<WorkerMetrics>();
app.Lifetime.ApplicationStarted.Register(() => metrics.Started(DateTime.Now - System.Diagnostics.Process.GetCurrentProcess().StartTime));
app.Lifetime.ApplicationStopping.Register(metrics.Stopped);

app.Run();
return 0;

internal static class DownloadModel
{
    public static async Task<int> RunAsync(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(args);
        builder.AddServiceDefaults();
        builder.Services.Configure<WorkerOptions>(builder.Configuration.GetSection(WorkerOptions.SectionName));
        builder.Services.AddModelFiles();
        using var host = builder.Build();  // disposing it flushes the logs to the dashboard (OTLP exports in batches)
        var options = host.Services.GetRequiredService<IOptions<WorkerOptions>>().Value;
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Embedding.Worker.Download");
        try
        {
            var directory = await host.Services.GetRequiredService<ModelFiles>().ResolveAsync(options.Onnx, options.Hub, CancellationToken.None);
            logger.LogInformation("Model files for '{Model}' are in {Directory}", options.Model, directory);
            return 0;
        }
        catch (Exception ex) when (ModelUnavailableException.Explains(ex))
        {
            logger.LogError("Model for '{Model}' is unavailable: {Reason}", options.Model, ex.Message);
            return 1;
        }
    }
}
