using Embedding.Api.Batches;
using Embedding.Api.Security;
using Embedding.Api.Services;
using Microsoft.AspNetCore.Authentication;
using Embedding.Contracts;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using Embedding.Messaging;

namespace Embedding.Api.Extensions;

/// <summary>The API's services: options, access control, the cache, the queue, the request paths (embeddings, rerank), batch jobs, messaging.</summary>
public static class ApplicationServicesExtensions
{
    /// <summary>Name of the Redis connection string the AppHost injects (ConnectionStrings__cache). Optional.</summary>
    public const string CacheConnectionName = "cache";

    /// <summary>Name of the PostgreSQL connection string of the batch store (ConnectionStrings__batches). Optional: SQLite without it.</summary>
    public const string BatchesConnectionName = "batches";

    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<EmbeddingApiOptions>()
            .Bind(builder.Configuration.GetSection(EmbeddingApiOptions.SectionName))
            .ValidateDataAnnotations()
            .Validate(o => o.Models.Count > 0 && o.Models.All(m => m.Name.Length > 0 && (m.Dimensions > 0 || m.Kind == ModelKind.Reranker)),
                "Api:Models must list at least one model, each with a Name and (an embedding model) its native Dimensions.")
            .Validate(o => o.Auth.Keys.All(k => k.Name.Length > 0 && System.Text.RegularExpressions.Regex.IsMatch(ApiKeyOptions.NormaliseHash(k.Sha256), "^[0-9a-f]{64}$"))
                           && o.Auth.Keys.Select(k => k.Name).Distinct().Count() == o.Auth.Keys.Count,
                "Api:Auth:Keys: each key needs a unique Name and the SHA-256 of the key as 64 hex digits (printf %s \"$KEY\" | sha256sum).")
            .Validate(o => new object[] { o.Cache, o.Cache.NearDuplicates, o.Batches }.All(section =>
                    System.ComponentModel.DataAnnotations.Validator.TryValidateObject(section, new(section), null, validateAllProperties: true)),
                "Api:Cache (NearDuplicates included) and Api:Batches: a value is out of its range (see EmbeddingApiOptions.cs).")
            .ValidateOnStart();

        // Who is calling (API keys, hashed), how often (per key), and how much at once (the whole process).
        builder.Services.AddAuthentication(ApiKeyHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyHandler>(ApiKeyHandler.SchemeName, null);
        builder.Services.AddAuthorization();
        builder.Services.AddSingleton<ApiKeyRing>();
        builder.Services.AddEmbeddingRateLimits();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<LocalKeyBuckets>();
        builder.Services.AddSingleton(sp => new KeyBuckets(sp.GetRequiredService<LocalKeyBuckets>(),
            sp.GetService<IConnectionMultiplexer>() is { } redis ? new RedisKeyBuckets(redis) : null,
            sp.GetRequiredService<IOptions<EmbeddingApiOptions>>(), sp.GetRequiredService<ApiMetrics>(), sp.GetRequiredService<ILogger<KeyBuckets>>()));
        builder.Services.AddSingleton<TokenQuotas>();

        // Redis is an optional second cache level and where per-key limits are counted across replicas.
        // No health check: a Redis outage must not take the API out of rotation.
        if (!string.IsNullOrEmpty(builder.Configuration.GetConnectionString(CacheConnectionName)))
        {
            builder.AddRedisClient(CacheConnectionName,
                settings => settings.DisableHealthChecks = true,
                redis =>
                {
                    redis.AbortOnConnectFail = false;
                    redis.ConnectTimeout = 2000;
                    redis.SyncTimeout = redis.AsyncTimeout = 1000;
                });
        }

        builder.Services.AddSingleton<ApiMetrics>();
        builder.Services.AddSingleton(sp => new EmbeddingCache(
            sp.GetRequiredService<IOptions<EmbeddingApiOptions>>(), sp.GetRequiredService<ApiMetrics>(),
            sp.GetRequiredService<ILogger<EmbeddingCache>>(), sp.GetService<IConnectionMultiplexer>()));
        builder.Services.AddSingleton(sp => new EmbeddingRequestParser(sp.GetRequiredService<IOptions<EmbeddingApiOptions>>().Value));
        // One plain AMQP connection beside MassTransit's: declares each tier's queue before its first request, reads depths for metrics.
        builder.Services.AddSingleton(sp => new QueueInspector(
            sp.GetRequiredService<IConfiguration>().GetConnectionString(MessagingExtensions.ConnectionName)!, "embedding-api-queues"));
        builder.Services.AddSingleton<WorkerDispatcher>();
        builder.Services.AddSingleton<QueueObserver>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<QueueObserver>());
        builder.Services.AddSingleton<NearDuplicateIndex>();
        builder.Services.AddSingleton<TierNumerics>();
        builder.Services.AddSingleton<EmbeddingService>();
        builder.Services.AddSingleton(sp => new RerankRequestParser(sp.GetRequiredService<IOptions<EmbeddingApiOptions>>().Value));
        builder.Services.AddSingleton<RerankService>();

        // Batch jobs: PostgreSQL where configured (any number of replicas), else SQLite beside the files; every API
        // process runs jobs, each under a lease. No health check: a database outage pauses jobs, not the embeddings.
        if (!string.IsNullOrEmpty(builder.Configuration.GetConnectionString(BatchesConnectionName)))
        {
            builder.AddNpgsqlDataSource(BatchesConnectionName, settings => settings.DisableHealthChecks = true);
            builder.Services.AddSingleton<IBatchStore, PostgresBatchStore>();
        }
        else builder.Services.AddSingleton<IBatchStore, SqliteBatchStore>();
        builder.Services.AddSingleton<BatchJobFiles>();
        builder.Services.AddSingleton<BatchMetrics>();
        builder.Services.AddSingleton<BatchInputValidator>();
        builder.Services.AddSingleton<BatchLineRunner>();
        builder.Services.AddSingleton<BatchLineWindow>();
        builder.Services.AddSingleton<BatchRunner>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<BatchRunner>());

        builder.AddEmbeddingMessaging(waitUntilStarted: false, publisherConfirms: true);
    }
}
