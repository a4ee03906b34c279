using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Embedding.Api;

/// <summary>The API's metrics and activity source.</summary>
public sealed class ApiMetrics
{
    public const string Name = "Embedding.Api";
    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Counter<long> _cacheHits;
    private readonly Counter<long> _cacheMisses;
    private readonly Counter<long> _cacheL2Errors;
    private readonly Counter<long> _inputs;
    private readonly Counter<long> _tokens;

    public ApiMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(Name);
        _cacheHits = meter.CreateCounter<long>("embedding.cache.hits", "{text}", "Cache hits, by level");
        _cacheMisses = meter.CreateCounter<long>("embedding.cache.misses", "{text}", "Cache misses, by level");
        _cacheL2Errors = meter.CreateCounter<long>("embedding.cache.l2.errors", "{call}", "Redis lookups skipped or failed; requests went on uncached");
        _inputs = meter.CreateCounter<long>("embedding.inputs", "{text}", "Inputs embedded, by model");
        _tokens = meter.CreateCounter<long>("embedding.usage.tokens", "{token}", "Prompt tokens reported in usage, by model");
    }

    public void CacheLookups(string level, int hits, int misses)
    {
        var tag = new KeyValuePair<string, object?>("cache.level", level);
        if (hits > 0) _cacheHits.Add(hits, tag);
        if (misses > 0) _cacheMisses.Add(misses, tag);
    }

    public void CacheL2Error() => _cacheL2Errors.Add(1);

    public void Served(string model, int inputs, long tokens)
    {
        var tag = new KeyValuePair<string, object?>("embedding.model", model);
        _inputs.Add(inputs, tag);
        _tokens.Add(tokens, tag);
    }
}
