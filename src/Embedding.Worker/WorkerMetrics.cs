using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;

namespace Embedding.Worker;

/// <summary>
/// The worker's metrics and activity source, recorded where the decisions are made. Every measurement
/// carries the tier (<c>embedding.model</c>) and the worker's role (<c>embedding.worker.role</c>: a CPU standby or a
/// regular worker), so tiers, and a standby's share of a tier, can be told apart on one dashboard.
/// </summary>
public sealed class WorkerMetrics
{
    public const string Name = "Embedding.Worker";
    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly TagList _tags;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<int> _batchTokens;
    private readonly Histogram<double> _backendDuration;
    private readonly Counter<long> _tokens;
    private readonly Counter<long> _queued;
    private readonly Counter<long> _dropped;
    private readonly Histogram<double> _startup;
    private readonly UpDownCounter<int> _replicas;

    public WorkerMetrics(IMeterFactory meterFactory, IOptions<WorkerOptions> options)
    {
        _tags = new TagList { { "embedding.model", options.Value.Model }, { "embedding.worker.role", options.Value.Role } };
        var meter = meterFactory.Create(Name);
        _batchSize = meter.CreateHistogram<int>("embedding.batch.size", "{text}", "Texts per backend batch");
        _batchTokens = meter.CreateHistogram<int>("embedding.batch.tokens", "{token}", "Tokens per backend batch");
        _backendDuration = meter.CreateHistogram<double>("embedding.backend.duration", "s", "Backend time per batch");
        _tokens = meter.CreateCounter<long>("embedding.tokens", "{token}", "Tokens embedded");
        _queued = meter.CreateCounter<long>("embedding.batcher.queued", "{text}", "Texts handed to the batcher");
        _dropped = meter.CreateCounter<long>("embedding.batcher.dropped", "{text}", "Texts dropped because their caller went away");
        _startup = meter.CreateHistogram<double>("embedding.worker.startup.duration", "s",
            "From process start to taking messages: the worker's part of a cold start (model load or engine wait included)");
        _replicas = meter.CreateUpDownCounter<int>("embedding.worker.replicas", "{replica}", "Workers taking messages; summed over replicas, the tier's size");
    }

    /// <summary>The worker is ready and takes messages from now on.</summary>
    public void Started(TimeSpan sinceProcessStart)
    {
        _startup.Record(sinceProcessStart.TotalSeconds, _tags);
        _replicas.Add(1, _tags);
    }

    public void Stopped() => _replicas.Add(-1, _tags);

    public void Queued(int texts) => _queued.Add(texts, _tags);

    public void Dropped(int texts) => _dropped.Add(texts, _tags);

    public void RecordBatch(int size, int tokens, TimeSpan duration)
    {
        _batchSize.Record(size, _tags);
        _batchTokens.Record(tokens, _tags);
        _tokens.Add(tokens, _tags);
        _backendDuration.Record(duration.TotalSeconds, _tags);
    }
}
