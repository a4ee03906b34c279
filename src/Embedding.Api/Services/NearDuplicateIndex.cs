using Microsoft.Extensions.Options;

namespace Embedding.Api.Services;

/// <summary>
/// Opt-in reuse of a cached vector for a near-identical text (<c>Api:Cache:NearDuplicates</c>). Remembers the fingerprint
/// and cache key of texts this API process embedded (or found in the cache), per model and instruction, and finds one
/// within <see cref="NearDuplicateOptions.MaxDistance"/> bits. The fingerprint is split into MaxDistance + 1 bands:
/// two fingerprints that close agree exactly on at least one band, so a lookup only compares the entries that share one.
/// Bounded: the oldest fingerprints are forgotten first.
/// </summary>
public sealed class NearDuplicateIndex
{
    private sealed record Entry(string Scope, ulong Fingerprint, string Key);

    private readonly NearDuplicateOptions _options;
    private readonly int _bands;
    private readonly Dictionary<(string Scope, int Band, ulong Value), List<Entry>> _buckets = new();
    private readonly Dictionary<string, Entry> _byKey = new(StringComparer.Ordinal);
    private readonly Queue<Entry> _order = new();
    private readonly Lock _lock = new();

    public NearDuplicateIndex(IOptions<EmbeddingApiOptions> options)
    {
        _options = options.Value.Cache.NearDuplicates;
        _bands = _options.MaxDistance + 1;
    }

    public bool Enabled => _options.Enabled;

    /// <summary>Texts shorter than this (normalised) are never matched: in a short text one word is the meaning.</summary>
    public bool Eligible(string text) => text.Length >= _options.MinCharacters;

    public int Count { get { lock (_lock) return _byKey.Count; } }

    /// <summary>Whether the text cached under this key is remembered already (then its fingerprint need not be computed).</summary>
    public bool Contains(string key) { lock (_lock) return _byKey.ContainsKey(key); }

    /// <summary>The cache key of the closest remembered text within the threshold, and its distance; null if none.</summary>
    public (string Key, int Distance)? Find(string scope, ulong fingerprint)
    {
        lock (_lock)
        {
            (string, int)? best = null;
            for (var band = 0; band < _bands; band++)
            {
                if (!_buckets.TryGetValue((scope, band, Band(fingerprint, band)), out var entries)) continue;
                foreach (var entry in entries)
                {
                    var distance = SimHash.Distance(entry.Fingerprint, fingerprint);
                    if (distance <= _options.MaxDistance && (best is null || distance < best.Value.Item2)) best = (entry.Key, distance);
                }
            }
            return best;
        }
    }

    public void Add(string scope, ulong fingerprint, string key)
    {
        lock (_lock)
        {
            if (_byKey.ContainsKey(key)) return;
            var entry = new Entry(scope, fingerprint, key);
            _byKey[key] = entry;
            _order.Enqueue(entry);
            for (var band = 0; band < _bands; band++)
            {
                var bucket = (scope, band, Band(fingerprint, band));
                if (!_buckets.TryGetValue(bucket, out var entries)) _buckets[bucket] = entries = [];
                entries.Add(entry);
            }
            while (_order.Count > _options.MaxEntries) Remove(_order.Dequeue());
        }
    }

    private void Remove(Entry entry)
    {
        _byKey.Remove(entry.Key);
        for (var band = 0; band < _bands; band++)
        {
            var bucket = (entry.Scope, band, Band(entry.Fingerprint, band));
            if (_buckets.TryGetValue(bucket, out var entries) && entries.Remove(entry) && entries.Count == 0) _buckets.Remove(bucket);
        }
    }

    /// <summary>Band i: bits [64i/b, 64(i+1)/b) of the fingerprint.</summary>
    private ulong Band(ulong fingerprint, int band)
    {
        int from = 64 * band / _bands, to = 64 * (band + 1) / _bands;
        var width = to - from;
        return width == 64 ? fingerprint : (fingerprint >> from) & ((1UL << width) - 1);
    }
}
