using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Embedding.Contracts;
using Microsoft.Extensions.Options;
using Embedding.Messaging;

namespace Embedding.Api.Services;

/// <summary>
/// The API's metrics and activity source. Requests by status, cache hits per level (and their ratio), what was
/// served, and per tier (<c>embedding.model</c>) the queue seen from here: depth, consumers, and the age of the
/// oldest request still waiting for a worker. The queue gauges live in the API because workers scale to zero:
/// a tier with no replicas is exactly the one whose queue a user wants to see. Batch jobs' instruments, on the same
/// meter, are <c>BatchMetrics</c>.
/// </summary>
public sealed class ApiMetrics
{
    public const string Name = "Embedding.Api";
    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Counter<long> _requests;
    private readonly Counter<long> _cacheHits;
    private readonly Counter<long> _cacheMisses;
    private readonly Counter<long> _cacheL2Errors;
    private readonly Counter<long> _inputs;
    private readonly Counter<long> _tokens;
    private readonly CacheCounts _l1 = new(), _l2 = new();
    private readonly ConcurrentDictionary<string, TierQueue> _queues = new(StringComparer.OrdinalIgnoreCase);
    private readonly Counter<long> _nearDuplicates;
    private readonly Counter<long> _limitsLocal;

    public ApiMetrics(IMeterFactory meterFactory, IOptions<EmbeddingApiOptions> options, QueueObserver queues)
    {
        var meter = meterFactory.Create(Name);
        _requests = meter.CreateCounter<long>("embedding.requests", "{request}",
            "Embeddings API requests, by HTTP status and (for errors) the OpenAI error code in error.type");
        _cacheHits = meter.CreateCounter<long>("embedding.cache.hits", "{text}", "Cache hits, by level");
        _cacheMisses = meter.CreateCounter<long>("embedding.cache.misses", "{text}", "Cache misses, by level");
        meter.CreateObservableGauge("embedding.cache.hit_ratio", () => new[] { _l1.Ratio("l1"), _l2.Ratio("l2") }.OfType<Measurement<double>>(),
            "1", "Share of lookups answered by each cache level since the API started (l2 counts only what l1 missed)");
        _cacheL2Errors = meter.CreateCounter<long>("embedding.cache.l2.errors", "{call}", "Redis lookups skipped or failed; requests went on uncached");
        _inputs = meter.CreateCounter<long>("embedding.inputs", "{text}", "Inputs embedded, by model");
        _tokens = meter.CreateCounter<long>("embedding.usage.tokens", "{token}", "Prompt tokens reported in usage, by model");

        _nearDuplicates = meter.CreateCounter<long>("embedding.cache.near_duplicates", "{text}",
            "Texts answered with the cached vector of a near-identical text (Api:Cache:NearDuplicates), by model");

        _limitsLocal = meter.CreateCounter<long>("embedding.limits.local", "{check}",
            "Per-key limit checks (limit: requests or tokens) decided by this replica's own counters because Redis was unreachable or slow");

        foreach (var model in options.Value.Models) _queues[model.Name] = new TierQueue(model.Name);
        // The broker's readings are the observer's (it polls them); these gauges only report them.
        IEnumerable<Measurement<long>> Readings(Func<QueueState, long> value) =>
            _queues.Keys.Select(m => queues.Latest(m) is { } state ? new Measurement<long>?(new(value(state), new KeyValuePair<string, object?>("embedding.model", m))) : null)
                .OfType<Measurement<long>>();
        meter.CreateObservableGauge("embedding.queue.depth", () => Readings(s => s.Ready),
            "{message}", "Messages waiting on the tier's queue for a worker (ready, not yet taken), as the broker reports it");
        meter.CreateObservableGauge("embedding.queue.consumers", () => Readings(s => s.Consumers),
            "{consumer}", "Workers consuming the tier's queue, as the broker reports it (0 while the tier is scaled to zero)");
        meter.CreateObservableGauge("embedding.queue.oldest.age", () => _queues.Values.Select(q => q.OldestAge()),
            "s", "Age of the oldest request this API instance has sent to the tier's queue and not yet had answered (waiting or in a batch)");
    }

    /// <summary>One answered API request: its status, and the OpenAI error code where it failed.</summary>
    public void Request(int status, string? errorCode)
    {
        if (errorCode is null) _requests.Add(1, new KeyValuePair<string, object?>("http.response.status_code", status));
        else _requests.Add(1, new("http.response.status_code", status), new("error.type", errorCode));
    }

    public void CacheLookups(string level, int hits, int misses)
    {
        var tag = new KeyValuePair<string, object?>("cache.level", level);
        if (hits > 0) _cacheHits.Add(hits, tag);
        if (misses > 0) _cacheMisses.Add(misses, tag);
        (level == "l1" ? _l1 : _l2).Add(hits, misses);
    }

    public void CacheL2Error() => _cacheL2Errors.Add(1);

    public void LimitCheckedLocally(string limit) => _limitsLocal.Add(1, new KeyValuePair<string, object?>("limit", limit));

    public void Served(string model, int inputs, long tokens)
    {
        var tag = new KeyValuePair<string, object?>("embedding.model", model);
        _inputs.Add(inputs, tag);
        _tokens.Add(tokens, tag);
    }

    public void NearDuplicatesReused(string model, int count)
    {
        if (count > 0) _nearDuplicates.Add(count, new KeyValuePair<string, object?>("embedding.model", model));
    }

    /// <summary>A request is on its way to a worker; dispose the result when it is answered (or given up).</summary>
    public IDisposable Waiting(string model) => _queues.GetOrAdd(model, m => new TierQueue(m)).Wait();

    private sealed class CacheCounts
    {
        private long _hits, _lookups;

        public void Add(int hits, int misses)
        {
            Interlocked.Add(ref _hits, hits);
            Interlocked.Add(ref _lookups, hits + misses);
        }

        public Measurement<double>? Ratio(string level)
        {
            var lookups = Interlocked.Read(ref _lookups);
            return lookups == 0 ? null : new Measurement<double>((double)Interlocked.Read(ref _hits) / lookups, new KeyValuePair<string, object?>("cache.level", level));
        }
    }

    private sealed class TierQueue(string model)
    {
        private readonly KeyValuePair<string, object?> _tag = new("embedding.model", model);
        private readonly ConcurrentDictionary<long, long> _waiting = new();  // id -> Stopwatch timestamp sent
        private long _next;

        public Measurement<double> OldestAge()
        {
            var oldest = long.MaxValue;
            foreach (var sent in _waiting.Values) oldest = Math.Min(oldest, sent);
            return new(oldest == long.MaxValue ? 0 : Stopwatch.GetElapsedTime(oldest).TotalSeconds, _tag);
        }

        public IDisposable Wait()
        {
            var id = Interlocked.Increment(ref _next);
            _waiting[id] = Stopwatch.GetTimestamp();
            return new Answered(this, id);
        }

        private sealed class Answered(TierQueue queue, long id) : IDisposable
        {
            public void Dispose() => queue._waiting.TryRemove(id, out _);
        }
    }
}
