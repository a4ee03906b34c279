using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Embedding.Worker;

/// <summary>The worker's metrics and activity source, recorded where the decisions are made.</summary>
public sealed class WorkerMetrics
{
    public const string Name = "Embedding.Worker";
    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Histogram<int> _batchSize;
    private readonly Histogram<int> _batchTokens;
    private readonly Histogram<double> _backendDuration;
    private readonly Counter<long> _tokens;

    public Counter<long> QueuedTexts { get; }
    public Counter<long> DroppedTexts { get; }

    public WorkerMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(Name);
        _batchSize = meter.CreateHistogram<int>("embedding.batch.size", "{text}", "Texts per backend batch");
        _batchTokens = meter.CreateHistogram<int>("embedding.batch.tokens", "{token}", "Tokens per backend batch");
        _backendDuration = meter.CreateHistogram<double>("embedding.backend.duration", "s", "Backend time per batch");
        _tokens = meter.CreateCounter<long>("embedding.tokens", "{token}", "Tokens embedded");
        QueuedTexts = meter.CreateCounter<long>("embedding.batcher.queued", "{text}", "Texts handed to the batcher");
        DroppedTexts = meter.CreateCounter<long>("embedding.batcher.dropped", "{text}", "Texts dropped because their caller went away");
    }

    public void RecordBatch(int size, int tokens, TimeSpan duration)
    {
        _batchSize.Record(size);
        _batchTokens.Record(tokens);
        _tokens.Add(tokens);
        _backendDuration.Record(duration.TotalSeconds);
    }
}
