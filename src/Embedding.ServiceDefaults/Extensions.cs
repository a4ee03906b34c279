using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The one place for cross-cutting plumbing: OpenTelemetry, health checks, service discovery and
/// HTTP resilience. Services call <c>AddServiceDefaults()</c> and <c>MapDefaultEndpoints()</c> only.
/// </summary>
public static class Extensions
{
    /// <summary>Activity sources and meters of this solution, plus MassTransit's, so one trace crosses the queue.</summary>
    public static readonly string[] TelemetrySources = ["Embedding.Api", "Embedding.Worker", "MassTransit"];

    private const string HealthEndpointPath = "/health";
    private const string AlivenessEndpointPath = "/alive";
    private const string MetricsEndpointPath = "/metrics";

    /// <summary>"Telemetry:Prometheus" = true adds a Prometheus scrape endpoint at /metrics (for Kubernetes), beside OTLP.</summary>
    private static bool PrometheusEnabled(IConfiguration configuration) => configuration.GetValue<bool>("Telemetry:Prometheus");

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();
        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });
        return builder;
    }

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        var otlp = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var telemetry = builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(TelemetrySources)
                .AddPrometheusIfEnabled(builder.Configuration));
        // Export only where a collector is configured (the AppHost sets this for the dashboard). Spans only then too:
        // without an exporter every request would still build its spans (HTTP, cache, both queue legs, batch) for no one.
        if (!otlp) return builder;
        telemetry
            .WithTracing(tracing => tracing
                .AddSource(builder.Environment.ApplicationName)
                .AddSource(TelemetrySources)
                // Health probes and scrapes are noise in the dashboard's trace list.
                .AddAspNetCoreInstrumentation(o => o.Filter = ctx =>
                    !ctx.Request.Path.StartsWithSegments(HealthEndpointPath) &&
                    !ctx.Request.Path.StartsWithSegments(AlivenessEndpointPath) &&
                    !ctx.Request.Path.StartsWithSegments(MetricsEndpointPath))
                .AddHttpClientInstrumentation())
            .UseOtlpExporter();
        return builder;
    }

    private static MeterProviderBuilder AddPrometheusIfEnabled(this MeterProviderBuilder metrics, IConfiguration configuration) =>
        PrometheusEnabled(configuration) ? metrics.AddPrometheusExporter() : metrics;

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        return builder;
    }

    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        // Readiness: every check must pass. Liveness: only the "live" ones.
        app.MapHealthChecks(HealthEndpointPath);
        app.MapHealthChecks(AlivenessEndpointPath, new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") });
        if (PrometheusEnabled(app.Configuration)) app.MapPrometheusScrapingEndpoint(MetricsEndpointPath);
        return app;
    }
}
