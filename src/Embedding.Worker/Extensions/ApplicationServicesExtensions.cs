using Embedding.Contracts;
using Embedding.Worker.Backends;
using Embedding.Worker.Batching;
using Embedding.Worker.Model;
using MassTransit;
using Microsoft.Extensions.Options;
using Embedding.Messaging;

namespace Embedding.Worker.Extensions;

public static class ApplicationServicesExtensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(WorkerOptions.SectionName).Get<WorkerOptions>() ?? new WorkerOptions();
        builder.Services.AddOptions<WorkerOptions>()
            .Bind(builder.Configuration.GetSection(WorkerOptions.SectionName))
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<WorkerOptions>, WorkerOptionsValidator>();

        builder.Services.AddSingleton<WorkerMetrics>();
        builder.Services.AddModelFiles();
#pragma warning disable EXTEXP0001 // RemoveAllResilienceHandlers is experimental; the engine's client needs its own policy
        // The engine's client: resilience sized from the configured timeout (the defaults would cut a long GPU
        // batch at 30 s). Embedding requests are idempotent, so retrying a POST is safe.
        var engineTimeout = TimeSpan.FromSeconds(options.OpenAI.TimeoutSeconds);
        builder.Services.AddHttpClient(nameof(OpenAICompatibleBackend), c => c.Timeout = Timeout.InfiniteTimeSpan)
            .RemoveAllResilienceHandlers()
            .AddStandardResilienceHandler(r =>
            {
                r.AttemptTimeout.Timeout = engineTimeout;
                r.TotalRequestTimeout.Timeout = engineTimeout * 3 + TimeSpan.FromSeconds(5);
                r.CircuitBreaker.SamplingDuration = engineTimeout * 2;
            });
#pragma warning restore EXTEXP0001
        builder.Services.AddSingleton<BackendLoader>();
        builder.Services.AddSingleton<IEmbeddingBackend>(sp => sp.GetRequiredService<BackendLoader>().Backend);
        builder.Services.AddSingleton<IRerankerBackend>(sp => sp.GetRequiredService<BackendLoader>().Reranker);
        builder.Services.AddHealthChecks().AddCheck<BackendLoader>("model");
        builder.Services.AddSingleton<TokenBudgetBatcher>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TokenBudgetBatcher>());

        builder.AddEmbeddingMessaging(
            waitUntilStarted: true,
            publisherConfirms: false,  // workers send only answers: see AddEmbeddingMessaging
            x =>
            {
                // Both on every worker: a message of the other kind (an EmbedTexts on a reranker tier's queue) gets a
                // clear refusal instead of waiting for a consumer that never comes.
                x.AddConsumer<EmbedTextsConsumer>();
                x.AddConsumer<ScorePairsConsumer>();
            },
            (context, cfg) => cfg.ReceiveEndpoint(EmbeddingQueues.ForModel(options.Model), e =>
            {
                // Prefetch bounds what this worker holds unacknowledged: enough to fill batches.
                e.PrefetchCount = options.PrefetchCount;
                e.ConcurrentMessageLimit = options.PrefetchCount;
                e.ConfigureConsumeTopology = false;
                // Interactive requests overtake batch-job work waiting on the same queue (the API declares it the same way).
                e.EnablePriority(EmbeddingQueues.MaxPriority);
                if (options.ConsumerPriority != 0) e.ConsumerPriority = options.ConsumerPriority;
                // Backend hiccups are retried a few times; then the request faults (its caller gets an
                // error) and the message moves to the _error queue instead of looping forever.
                e.UseMessageRetry(r => r.Intervals(200, 1000, 3000));
                e.ConfigureConsumer<EmbedTextsConsumer>(context);
                e.ConfigureConsumer<ScorePairsConsumer>(context);
            }));
    }

    /// <summary>The model downloader's client: multi-GB downloads must not get the default per-attempt timeout; it resumes by itself.</summary>
    public static IServiceCollection AddModelFiles(this IServiceCollection services)
    {
#pragma warning disable EXTEXP0001 // RemoveAllResilienceHandlers is experimental
        services.AddHttpClient<ModelFiles>(c => c.Timeout = Timeout.InfiniteTimeSpan).RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001
        return services;
    }
}

/// <summary>
/// Checks the options at start, so a bad setting stops the worker with a clear message: the ranges
/// declared on the options classes (nested sections too) and what each backend requires.
/// </summary>
public sealed class WorkerOptionsValidator : IValidateOptions<WorkerOptions>
{
    public ValidateOptionsResult Validate(string? name, WorkerOptions o)
    {
        var failures = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        foreach (var section in new object[] { o, o.Onnx, o.Hub, o.OpenAI, o.Fake, o.SimulatedGpu })
            System.ComponentModel.DataAnnotations.Validator.TryValidateObject(section, new(section), failures, validateAllProperties: true);
        var messages = failures.Select(f => $"Worker: {f.ErrorMessage}").ToList();
        if (o.StandIn is null && o.Backend == BackendKind.Onnx && string.IsNullOrWhiteSpace(o.Onnx.ModelPath) && string.IsNullOrWhiteSpace(o.Onnx.HubRepository))
            messages.Add("Worker:Onnx:ModelPath or Worker:Onnx:HubRepository is required for the ONNX backend.");
        if (o.StandIn is null && o.Backend == BackendKind.OpenAI && (o.OpenAI.BaseUrl is null || string.IsNullOrWhiteSpace(o.OpenAI.Model)))
            messages.Add("Worker:OpenAI:BaseUrl and Worker:OpenAI:Model are required for the OpenAI-compatible backend.");
        if (o.Kind == ModelKind.Reranker && (o.StandIn is null ? o.Backend != BackendKind.Onnx : o.StandIn != StandInKind.Fake))
            messages.Add("Worker:Kind Reranker runs on Worker:Backend Onnx (Cpu or Cuda), or Worker:StandIn Fake for overhead tests.");
        return messages.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(messages);
    }
}
