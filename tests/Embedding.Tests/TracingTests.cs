using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Embedding.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Embedding.Tests;

/// <summary>One request is one trace: API -> cache -> queue (MassTransit) -> worker -> batch on the backend.</summary>
public sealed class TracingTests
{
    [Fact]
    public async Task A_request_trace_reaches_the_backend_batch_through_the_queue()
    {
        var spans = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "Embedding.Api" or "Embedding.Worker" or "MassTransit" or "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Add,
        };
        ActivitySource.AddActivityListener(listener);
        await using var stack = new EmbeddingStack(redis: null);

        var response = await stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = $"traced {Guid.NewGuid()}" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        // Other tests run alongside: find this request's trace by the worker span tagged with this stack's model.
        var consumer = await WaitForAsync(() => spans.FirstOrDefault(s =>
            s.Source.Name == "MassTransit" && s.Kind == ActivityKind.Consumer && Equals(s.GetTagItem("embedding.model"), stack.Model)));
        var batch = await WaitForAsync(() => spans.FirstOrDefault(s => s.OperationName == "embed batch" && s.TraceId == consumer.TraceId));
        var server = await WaitForAsync(() => spans.FirstOrDefault(s =>
            s.TraceId == consumer.TraceId && s.Source.Name == "Microsoft.AspNetCore" && s.Kind == ActivityKind.Server));
        var trace = spans.Where(s => s.TraceId == consumer.TraceId).ToList();
        Assert.Contains(trace, s => s.OperationName == "cache lookup");
        Assert.Contains(trace, s => s.Source.Name == "MassTransit" && s.Kind == ActivityKind.Producer);
        Assert.Equal(1, batch.GetTagItem("embedding.batch.size"));
        Assert.Single(batch.Links);
        Assert.Null(server.ParentId);  // the whole chain hangs off the HTTP request
    }

    private static async Task<T> WaitForAsync<T>(Func<T?> find) where T : class
    {
        for (var i = 0; i < 100; i++)
        {
            if (find() is { } found) return found;
            await Task.Delay(50);
        }
        throw new TimeoutException("span not seen");
    }
}

/// <summary>Prometheus scraping, the option for clusters that scrape rather than receive OTLP.</summary>
public sealed class PrometheusTests
{
    [Fact]
    public async Task With_the_option_on_the_api_serves_its_metrics_at_slash_metrics()
    {
        await using var stack = new Infrastructure.EmbeddingStack(backend: "Fake", redis: null, api: new() { ["Telemetry:Prometheus"] = "true" });
        var response = await stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = new[] { "scrape me", "and me" } });
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);

        string text = "";
        for (var i = 0; i < 50 && !text.Contains("embedding_usage_tokens"); i++)
        {
            await Task.Delay(200);  // the exporter caches a scrape briefly
            text = await stack.Client.GetStringAsync("/metrics");
        }
        Assert.Contains("embedding_inputs", text);
        Assert.Contains("embedding_usage_tokens", text);
        Assert.Contains($"embedding_model=\"{stack.Model}\"", text);
    }

    [Fact]
    public async Task Without_the_option_there_is_no_metrics_endpoint()
    {
        await using var stack = new Infrastructure.EmbeddingStack(backend: "Fake", redis: null, workers: 0);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await stack.Client.GetAsync("/metrics")).StatusCode);
    }
}

/// <summary>Cold starts and replicas as metrics: each worker reports its start-up time and counts itself while it takes messages.</summary>
public sealed class WorkerLifecycleMetricsTests
{
    [Fact]
    public async Task A_worker_reports_its_start_and_counts_itself_in_and_out()
    {
        var model = Infrastructure.EmbeddingStack.NewModelName();
        var replicas = new ConcurrentQueue<int>();
        var startups = new ConcurrentQueue<double>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Embedding.Worker" && instrument.Name.StartsWith("embedding.worker.", StringComparison.Ordinal)) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "embedding.worker.replicas" && Tagged(tags, model)) replicas.Enqueue(value);
        });
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "embedding.worker.startup.duration" && Tagged(tags, model)) startups.Enqueue(value);
        });
        listener.Start();

        await using (new Infrastructure.EmbeddingStack(backend: "Fake", redis: null, model: model))
        {
            // Reported from the host's ApplicationStarted callbacks, which may finish just after the host reports started.
            await TestEnvironment.WaitUntilAsync(() => !replicas.IsEmpty, TimeSpan.FromSeconds(10), pollMilliseconds: 10);
            Assert.Equal([1], replicas);
            Assert.True(Assert.Single(startups) > 0);
        }
        Assert.Equal([1, -1], replicas);
    }

    private static bool Tagged(ReadOnlySpan<KeyValuePair<string, object?>> tags, string model)
    {
        foreach (var tag in tags) if (tag.Key == "embedding.model" && (string?)tag.Value == model) return true;
        return false;
    }
}

/// <summary>Spans are built only where a collector receives them (ServiceDefaults): without one, a request pays for none.</summary>
public sealed class TracingWithoutACollectorTests
{
    [Theory]
    [InlineData(null, false)]
    [InlineData("http://127.0.0.1:4318", true)]
    public void Tracing_is_on_only_where_an_OTLP_endpoint_is_configured(string? endpoint, bool tracing)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new());
        if (endpoint is not null) builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint;
        builder.ConfigureOpenTelemetry();
        using var host = builder.Build();

        Assert.Equal(tracing, host.Services.GetService<OpenTelemetry.Trace.TracerProvider>() is not null);
        Assert.NotNull(host.Services.GetService<OpenTelemetry.Metrics.MeterProvider>());  // metrics stay on either way
    }
}
