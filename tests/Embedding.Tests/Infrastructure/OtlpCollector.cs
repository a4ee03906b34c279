using System.Buffers.Binary;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Embedding.Tests.Infrastructure;

/// <summary>
/// A small OTLP/HTTP receiver (protobuf, the OpenTelemetry exporter's wire format) on loopback: services under test
/// export to it exactly as they export to the Aspire dashboard, and tests read back what arrived. It decodes only the
/// fields tests look at (names, ids, parents, links, attributes, values), straight from the protobuf wire format.
/// </summary>
public sealed class OtlpCollector : IAsyncDisposable
{
    private readonly WebApplication _app;

    public ConcurrentQueue<OtlpSpan> Spans { get; } = new();
    public ConcurrentQueue<OtlpMetricPoint> Metrics { get; } = new();
    public ConcurrentQueue<OtlpLogRecord> Logs { get; } = new();
    public string Endpoint { get; }

    /// <summary>Requests received per path, and anything that could not be decoded (a test failure should say so).</summary>
    public ConcurrentDictionary<string, int> Received { get; } = new();
    public ConcurrentQueue<string> DecodeErrors { get; } = new();

    public OtlpCollector()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.MapPost("/v1/traces", context => Receive(context, body => DecodeTraces(body)));
        _app.MapPost("/v1/metrics", context => Receive(context, body => DecodeMetrics(body)));
        _app.MapPost("/v1/logs", context => Receive(context, body => DecodeLogs(body)));
        _app.StartAsync().GetAwaiter().GetResult();
        Endpoint = _app.Urls.Single();
    }

    /// <summary>Settings that point a service's OpenTelemetry exporter here, exporting quickly.</summary>
    public Dictionary<string, string?> ExporterSettings(string serviceName) => new()
    {
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = Endpoint,
        ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        ["OTEL_SERVICE_NAME"] = serviceName,
        ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
        ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
        ["OTEL_BLRP_SCHEDULE_DELAY"] = "100",
    };

    private async Task Receive(HttpContext context, Action<ReadOnlyMemory<byte>> decode)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer);
        Received.AddOrUpdate(context.Request.Path, 1, (_, n) => n + 1);
        try
        {
            decode(buffer.ToArray());
        }
        catch (Exception ex)
        {
            DecodeErrors.Enqueue($"{context.Request.Path}: {ex.Message}");
            throw;
        }
        context.Response.ContentType = "application/x-protobuf";  // an empty Export*ServiceResponse: all accepted
    }

    // opentelemetry-proto field numbers: Export*ServiceRequest.resource_* = 1; Resource* { resource = 1, scope_* = 2 };
    // Scope* { scope = 1, items = 2 }; Resource.attributes = 1; InstrumentationScope.name = 1.
    private void DecodeTraces(ReadOnlyMemory<byte> body)
    {
        foreach (var (service, _, span) in Items(body))
        {
            var s = new OtlpSpan { Service = service };
            foreach (var f in Proto.Fields(span))
            {
                switch (f.Number)
                {
                    case 1: s.TraceId = Convert.ToHexStringLower(f.Bytes.Span); break;
                    case 2: s.SpanId = Convert.ToHexStringLower(f.Bytes.Span); break;
                    case 4: s.ParentSpanId = Convert.ToHexStringLower(f.Bytes.Span); break;
                    case 5: s.Name = f.String; break;
                    case 6: s.Kind = (int)f.Varint; break;
                    case 9: AddAttribute(s.Attributes, f.Bytes); break;
                    case 13:
                        string? linkTrace = null, linkSpan = null;
                        foreach (var l in Proto.Fields(f.Bytes))
                        {
                            if (l.Number == 1) linkTrace = Convert.ToHexStringLower(l.Bytes.Span);
                            if (l.Number == 2) linkSpan = Convert.ToHexStringLower(l.Bytes.Span);
                        }
                        s.Links.Add((linkTrace!, linkSpan!));
                        break;
                }
            }
            Spans.Enqueue(s);
        }
    }

    private void DecodeMetrics(ReadOnlyMemory<byte> body)
    {
        foreach (var (service, meter, metric) in Items(body))
        {
            string name = "", unit = "";
            foreach (var f in Proto.Fields(metric))
            {
                switch (f.Number)
                {
                    case 1: name = f.String; break;
                    case 3: unit = f.String; break;
                    case 5 or 7 or 9:  // gauge, sum, histogram: data_points = 1
                        foreach (var points in Proto.Fields(f.Bytes).Where(p => p.Number == 1))
                            Metrics.Enqueue(DecodePoint(service, meter, name, unit, histogram: f.Number == 9, points.Bytes));
                        break;
                }
            }
        }
    }

    private static OtlpMetricPoint DecodePoint(string service, string meter, string name, string unit, bool histogram, ReadOnlyMemory<byte> point)
    {
        var p = new OtlpMetricPoint { Service = service, Meter = meter, Name = name, Unit = unit };
        foreach (var f in Proto.Fields(point))
        {
            if (histogram)
            {
                // HistogramDataPoint: count = 4 (fixed64), sum = 5 (double), attributes = 9.
                if (f.Number == 4) p.Count = (long)f.Fixed64;
                else if (f.Number == 5) p.Value = BitConverter.Int64BitsToDouble((long)f.Fixed64);
                else if (f.Number == 9) AddAttribute(p.Attributes, f.Bytes);
            }
            else
            {
                // NumberDataPoint: as_double = 4, as_int = 6 (both 64-bit fixed), attributes = 7.
                if (f.Number == 4) p.Value = BitConverter.Int64BitsToDouble((long)f.Fixed64);
                else if (f.Number == 6) p.Value = (long)f.Fixed64;
                else if (f.Number == 7) AddAttribute(p.Attributes, f.Bytes);
            }
        }
        return p;
    }

    private void DecodeLogs(ReadOnlyMemory<byte> body)
    {
        foreach (var (service, _, record) in Items(body))
        {
            var r = new OtlpLogRecord { Service = service };
            foreach (var f in Proto.Fields(record))
            {
                switch (f.Number)
                {
                    case 5: r.Body = AnyValue(f.Bytes)?.ToString() ?? ""; break;
                    case 6: AddAttribute(r.Attributes, f.Bytes); break;
                    case 9: r.TraceId = Convert.ToHexStringLower(f.Bytes.Span); break;
                    case 10: r.SpanId = Convert.ToHexStringLower(f.Bytes.Span); break;
                }
            }
            Logs.Enqueue(r);
        }
    }

    /// <summary>Every span / metric / log record in a request, with its service name and scope (meter) name.</summary>
    private static IEnumerable<(string Service, string Scope, ReadOnlyMemory<byte> Item)> Items(ReadOnlyMemory<byte> request)
    {
        foreach (var resourceItems in Proto.Fields(request).Where(f => f.Number == 1))
        {
            var service = "";
            var scopes = new List<ReadOnlyMemory<byte>>();
            foreach (var f in Proto.Fields(resourceItems.Bytes))
            {
                if (f.Number == 1)
                {
                    var attributes = new Dictionary<string, object?>();
                    foreach (var a in Proto.Fields(f.Bytes).Where(a => a.Number == 1)) AddAttribute(attributes, a.Bytes);
                    service = attributes.GetValueOrDefault("service.name") as string ?? "";
                }
                else if (f.Number == 2) scopes.Add(f.Bytes);
            }
            foreach (var scopeItems in scopes)
            {
                var scope = "";
                foreach (var f in Proto.Fields(scopeItems))
                {
                    if (f.Number == 1) scope = Proto.Fields(f.Bytes).FirstOrDefault(n => n.Number == 1).String ?? "";
                    else if (f.Number == 2) yield return (service, scope, f.Bytes);
                }
            }
        }
    }

    /// <summary>KeyValue { key = 1, value = 2 (AnyValue) }.</summary>
    private static void AddAttribute(Dictionary<string, object?> attributes, ReadOnlyMemory<byte> keyValue)
    {
        string? key = null;
        object? value = null;
        foreach (var f in Proto.Fields(keyValue))
        {
            if (f.Number == 1) key = f.String;
            else if (f.Number == 2) value = AnyValue(f.Bytes);
        }
        if (key is not null) attributes[key] = value;
    }

    /// <summary>AnyValue { string = 1, bool = 2, int64 = 3, double = 4, array = 5 }.</summary>
    private static object? AnyValue(ReadOnlyMemory<byte> value)
    {
        foreach (var f in Proto.Fields(value))
        {
            switch (f.Number)
            {
                case 1: return f.String;
                case 2: return f.Varint != 0;
                case 3: return (long)f.Varint;
                case 4: return BitConverter.Int64BitsToDouble((long)f.Fixed64);
                case 5: return Proto.Fields(f.Bytes).Where(e => e.Number == 1).Select(e => AnyValue(e.Bytes)).ToArray();
            }
        }
        return null;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    /// <summary>The protobuf wire format: (field number, wire type) keys followed by varints, fixed 32/64-bit values or length-prefixed bytes.</summary>
    private static class Proto
    {
        public readonly record struct Field(int Number, ulong Varint, ulong Fixed64, ReadOnlyMemory<byte> Bytes)
        {
            public string String => System.Text.Encoding.UTF8.GetString(Bytes.Span);
        }

        public static List<Field> Fields(ReadOnlyMemory<byte> data)
        {
            var fields = new List<Field>();
            var span = data.Span;
            var i = 0;
            while (i < span.Length)
            {
                var key = ReadVarint(span, ref i);
                var number = (int)(key >> 3);
                switch ((int)(key & 7))
                {
                    case 0: fields.Add(new(number, ReadVarint(span, ref i), 0, default)); break;
                    case 1: fields.Add(new(number, 0, BinaryPrimitives.ReadUInt64LittleEndian(span[i..]), default)); i += 8; break;
                    case 2:
                        var length = (int)ReadVarint(span, ref i);
                        fields.Add(new(number, 0, 0, data.Slice(i, length)));
                        i += length;
                        break;
                    case 5: fields.Add(new(number, 0, BinaryPrimitives.ReadUInt32LittleEndian(span[i..]), default)); i += 4; break;
                    default: throw new InvalidDataException($"Unsupported protobuf wire type {key & 7}");
                }
            }
            return fields;
        }

        private static ulong ReadVarint(ReadOnlySpan<byte> span, ref int i)
        {
            ulong value = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = span[i++];
                value |= (ulong)(b & 0x7f) << shift;
                if (b < 0x80) return value;
            }
        }
    }
}

public sealed class OtlpSpan
{
    public string Service { get; set; } = "";
    public string TraceId { get; set; } = "";
    public string SpanId { get; set; } = "";
    public string ParentSpanId { get; set; } = "";
    public string Name { get; set; } = "";
    /// <summary>1 internal, 2 server, 3 client, 4 producer, 5 consumer.</summary>
    public int Kind { get; set; }
    public Dictionary<string, object?> Attributes { get; } = [];
    public List<(string TraceId, string SpanId)> Links { get; } = [];
    public object? this[string attribute] => Attributes.GetValueOrDefault(attribute);
}

public sealed class OtlpMetricPoint
{
    public string Service { get; set; } = "";
    public string Meter { get; set; } = "";
    public string Name { get; set; } = "";
    public string Unit { get; set; } = "";
    public double Value { get; set; }
    /// <summary>Histograms: how many measurements (Value is their sum).</summary>
    public long Count { get; set; }
    public Dictionary<string, object?> Attributes { get; } = [];
    public object? this[string attribute] => Attributes.GetValueOrDefault(attribute);
}

public sealed class OtlpLogRecord
{
    public string Service { get; set; } = "";
    public string TraceId { get; set; } = "";
    public string SpanId { get; set; } = "";
    public string Body { get; set; } = "";
    public Dictionary<string, object?> Attributes { get; } = [];
}
