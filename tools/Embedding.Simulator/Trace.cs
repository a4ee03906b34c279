using System.Globalization;

namespace Embedding.Simulator;

/// <summary>
/// One request of a trace: when it arrives, how many tokens it carries, and which text it is (repeats hit the cache);
/// for a bulk indexing job's request, which job (-1: interactive).
/// </summary>
public readonly record struct TraceRequest(double Arrival, int Tokens, long TextId, int Job = -1);

/// <summary>A day of traffic with business-hours peaks, quiet nights and short bursts; seeded, so every run replays the same day.</summary>
public sealed record DiurnalTraceOptions
{
    public double DaySeconds { get; init; } = 86_400;

    /// <summary>Average load over the day. 8,640 tokens/s keeps one 48k-tokens/s GPU 18 % busy, as in the original deployment.</summary>
    public double MeanTokensPerSecond { get; init; } = 8_640;

    /// <summary>Share of requests that repeat an earlier text (what the cache can answer).</summary>
    public double RepeatRatio { get; init; } = 0.3;

    /// <summary>Request sizes: log-normal around the median, clipped to [Min, Max].</summary>
    public double MedianTokens { get; init; } = 192;
    public double SigmaLog { get; init; } = 0.9;
    public int MinTokens { get; init; } = 8;
    public int MaxTokens { get; init; } = 8192;

    /// <summary>Night traffic as a share of the daytime peak.</summary>
    public double NightShare { get; init; } = 0.0005;

    /// <summary>Bursts (an indexing job, a product launch): how many, how long, how much above the curve, in which hours.</summary>
    public int Bursts { get; init; } = 6;
    public double BurstFromHour { get; init; } = 9;
    public double BurstToHour { get; init; } = 18;
    public double BurstMinutes { get; init; } = 4;
    public double BurstMultiplier { get; init; } = 4;

    public int Seed { get; init; } = 42;

    /// <summary>The day's curve: two long working-hours peaks with an evening shoulder, or one office's hours only.</summary>
    public DayShape Shape { get; init; } = DayShape.TwoPeaks;

    /// <summary>
    /// Bulk indexing jobs (hours of day they start), sharing the day's tokens with interactive traffic: the interactive
    /// curve carries <see cref="InteractiveShare"/> of them, the jobs the rest, each at <see cref="JobTokensPerSecond"/>.
    /// None by default (an interactive day).
    /// </summary>
    public double[] JobStartHours { get; init; } = [];
    public double InteractiveShare { get; init; } = 1.0;
    public double JobTokensPerSecond { get; init; } = 36_000;

    /// <summary>
    /// One office in one time zone (an internal RAG or search tool): busy 08:30-17:30 with a lunch dip, nothing in the
    /// evening; the kind of day on which the original deployment's 9.6 GPU-hours are possible at all.
    /// </summary>
    public static DiurnalTraceOptions OfficeDay => new() { Shape = DayShape.OfficeHours, BurstMultiplier = 2 };

    /// <summary>
    /// What real clients send (issue 16): a low, steady trickle all day and night, about 1.5 requests/s, with short
    /// bursts at any hour (a client re-embedding a folder, a retry storm): 48 bursts of 2 minutes at 8x.
    /// </summary>
    public static DiurnalTraceOptions TrickleDay => new()
    {
        Shape = DayShape.Flat, MeanTokensPerSecond = 480, Bursts = 48, BurstMinutes = 2, BurstMultiplier = 8, BurstFromHour = 0, BurstToHour = 24,
    };

    public static DiurnalTraceOptions IndexingDay => new()
    {
        JobStartHours = [1, 9.5, 13, 17.5, 22], InteractiveShare = 0.3, NightShare = 0, Bursts = 0,
    };
}

public enum DayShape { TwoPeaks, OfficeHours, Flat }

public static class DiurnalTrace
{
    /// <summary>Relative load at a time of day: two working-hours peaks (10:30, 14:45), a small evening shoulder, a quiet night.</summary>
    /// <summary>Or, for <see cref="DayShape.OfficeHours"/>: 08:30-17:30 with 15-minute edges, a morning high and a lunch dip.</summary>
    public static double Shape(double hour, double nightShare, DayShape shape = DayShape.TwoPeaks)
    {
        static double Bump(double h, double centre, double width) => Math.Exp(-0.5 * Math.Pow((h - centre) / width, 2));
        static double Rise(double h, double at) => 1 / (1 + Math.Exp(-(h - at) / 0.15));
        var day = shape switch
        {
            DayShape.OfficeHours => Rise(hour, 8.5) * Rise(17.5, hour) * (0.8 + 0.2 * Bump(hour, 10.5, 1.5)) * (1 - 0.4 * Bump(hour, 12.75, 0.5)),
            DayShape.Flat => 1,
            _ => Bump(hour, 10.5, 1.3) + 0.9 * Bump(hour, 14.75, 1.4) + 0.08 * Bump(hour, 20.5, 1.0),
        };
        return Math.Max(nightShare, day);
    }

    public static List<TraceRequest> Generate(DiurnalTraceOptions o)
    {
        var random = new Random(o.Seed);
        int SampleTokens()
        {
            // Box-Muller normal, exponentiated: log-normal request sizes.
            var normal = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            return (int)Math.Clamp(Math.Round(o.MedianTokens * Math.Exp(o.SigmaLog * normal)), o.MinTokens, o.MaxTokens);
        }

        var bursts = Enumerable.Range(0, o.Bursts).Select(_ => (o.BurstFromHour + random.NextDouble() * (o.BurstToHour - o.BurstFromHour)) * 3600).ToArray();
        double Rate(double t)
        {
            var r = Shape(t / 3600 % 24, o.NightShare, o.Shape);
            foreach (var start in bursts) if (t >= start && t < start + o.BurstMinutes * 60) r *= o.BurstMultiplier;
            return r;
        }

        // Scale the shape so interactive traffic averages its share of MeanTokensPerSecond (mean request size by sampling);
        // the jobs carry the rest of the day's tokens at their own rate, which sets how long each runs.
        var meanShape = Enumerable.Range(0, 86_400 / 10).Average(i => Rate(i * 10.0));
        var meanTokens = Enumerable.Range(0, 200_000).Average(_ => SampleTokens());
        var shapeUnit = o.InteractiveShare * o.MeanTokensPerSecond / meanTokens / meanShape;
        var jobSeconds = o.JobStartHours.Length == 0 ? 0 : (1 - o.InteractiveShare) * o.MeanTokensPerSecond * o.DaySeconds / o.JobTokensPerSecond / o.JobStartHours.Length;
        int JobAt(double t) => Array.FindIndex(o.JobStartHours, h => t >= h * 3600 && t < h * 3600 + jobSeconds);
        double Requests(double t) => Rate(t) * shapeUnit + (JobAt(t) >= 0 ? o.JobTokensPerSecond / meanTokens : 0);
        var peakRate = Enumerable.Range(0, 86_400 / 10).Max(i => Requests(i * 10.0)) * 1.01;

        // Poisson arrivals with a time-varying rate, by thinning.
        var trace = new List<TraceRequest>();
        long nextId = 0;
        for (var t = 0.0; ; )
        {
            t += -Math.Log(1 - random.NextDouble()) / peakRate;
            if (t >= o.DaySeconds) break;
            var total = Requests(t);
            if (random.NextDouble() * peakRate > total) continue;
            // While a job runs, a request is the job's with the job's share of the rate (drawn only then: an interactive
            // day's trace stays the same).
            var job = JobAt(t) is var j and >= 0 && random.NextDouble() * total < o.JobTokensPerSecond / meanTokens ? j : -1;
            var repeat = trace.Count > 0 && random.NextDouble() < o.RepeatRatio;
            var request = repeat ? trace[random.Next(trace.Count)] with { Arrival = t, Job = job } : new TraceRequest(t, SampleTokens(), nextId++, job);
            trace.Add(request);
        }
        return trace;
    }

    public static void WriteCsv(string path, IEnumerable<TraceRequest> trace)
    {
        using var writer = new StreamWriter(path);
        writer.WriteLine("arrival_seconds,tokens,text_id");
        foreach (var r in trace) writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Arrival:F4},{r.Tokens},{r.TextId}"));
    }

    public static List<TraceRequest> ReadCsv(string path) => File.ReadLines(path).Skip(1).Select(line =>
    {
        var f = line.Split(',');
        return new TraceRequest(double.Parse(f[0], CultureInfo.InvariantCulture), int.Parse(f[1], CultureInfo.InvariantCulture), long.Parse(f[2], CultureInfo.InvariantCulture));
    }).ToList();
}

/// <summary>
/// The Azure LLM inference traces 2023 (Azure/AzurePublicDataset on GitHub, CC-BY-4.0; Patel et al., "Splitwise", ISCA
/// 2024): one hour of one production service's arrivals, <c>TIMESTAMP,ContextTokens,GeneratedTokens</c>. An embedding
/// request is the prompt: arrival = seconds after the first request, tokens = ContextTokens (at most the model's context),
/// every request a distinct text (the trace has no contents, so no cache hits are invented).
/// </summary>
public static class AzureLlmTrace
{
    public static List<TraceRequest> Convert(IEnumerable<string> lines, int maxTokens = 32_768)
    {
        var trace = new List<TraceRequest>();
        DateTime? first = null;
        foreach (var line in lines.Skip(1))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            var f = line.Split(',');
            var at = DateTime.ParseExact(f[0].Trim(), ["yyyy-MM-dd HH:mm:ss.FFFFFFF", "yyyy-MM-dd HH:mm:ss"], CultureInfo.InvariantCulture, DateTimeStyles.None);
            first ??= at;
            var tokens = Math.Clamp(int.Parse(f[1], CultureInfo.InvariantCulture), 1, maxTokens);
            trace.Add(new TraceRequest((at - first.Value).TotalSeconds, tokens, trace.Count));
        }
        // The published rows are in time order; sort anyway, stably, so a shuffled copy converts the same.
        return trace.OrderBy(r => r.Arrival).ThenBy(r => r.TextId).ToList();
    }
}
