using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Embedding.Load;

public sealed record LoadOptions
{
    public required Uri Url { get; init; }
    public required string Model { get; init; }
    public string? ApiKey { get; init; }
    public double DurationSeconds { get; init; } = 10;
    public long MaxRequests { get; init; } = long.MaxValue;
    public int InputsPerRequest { get; init; } = 1;

    /// <summary>Input length in words (about one token each), drawn uniformly from [Min, Max].</summary>
    public int MinWords { get; init; } = 16;
    public int MaxWords { get; init; } = 64;

    /// <summary>Share of requests that repeat an earlier text (cache hits on a service with a cache).</summary>
    public double RepeatRatio { get; init; }
    public int Seed { get; init; } = 1;
}

/// <summary>One step of a sweep: a concurrency (closed loop) or an arrival rate (open loop), and what it measured.</summary>
public sealed record StepResult(string Label, double Level, long Requests, long Errors, double Seconds, double[] LatenciesMs)
{
    public double Qps => Requests / Seconds;
    public double Percentile(double p)
    {
        if (LatenciesMs.Length == 0) return 0;
        return LatenciesMs[(int)Math.Clamp(Math.Ceiling(p / 100 * LatenciesMs.Length) - 1, 0, LatenciesMs.Length - 1)];
    }
    public double Average => LatenciesMs.Length == 0 ? 0 : LatenciesMs.Average();
}

/// <summary>Sends OpenAI embeddings requests and times them. Bounded by duration and request count; stops by itself.</summary>
public sealed class LoadRun(LoadOptions options, HttpClient http)
{
    private static readonly string[] Words = ["vector", "search", "query", "document", "river", "model", "token", "cache", "queue", "worker",
        "embedding", "index", "north", "green", "seven", "graph", "light", "paper", "stone", "cloud"];
    private readonly List<string> _sent = [];
    private readonly Random _random = new(options.Seed);
    private long _counter;

    /// <summary>Closed loop: <paramref name="concurrency"/> clients, each sending its next request when the last is answered.</summary>
    public async Task<StepResult> ClosedLoopAsync(int concurrency, Action<StepResult>? progress = null)
    {
        var latencies = new List<double>();
        long requests = 0, errors = 0;
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(options.DurationSeconds));
        using var reporter = Report(() => new StepResult($"{concurrency} clients", concurrency, Interlocked.Read(ref requests), Interlocked.Read(ref errors), clock.Elapsed.TotalSeconds, []), progress, stop.Token);
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (!stop.IsCancellationRequested && Interlocked.Increment(ref requests) <= options.MaxRequests)
            {
                var (ms, ok) = await SendAsync(stop.Token);
                if (ms is null) { Interlocked.Decrement(ref requests); break; }  // cut off by the end of the step
                lock (latencies) latencies.Add(ms.Value);
                if (!ok) Interlocked.Increment(ref errors);
            }
        }));
        return Result($"{concurrency} clients", concurrency, latencies, errors, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Open loop: requests start at <paramref name="rate"/> per second (Poisson), whether or not earlier ones are answered.</summary>
    public async Task<StepResult> OpenLoopAsync(double rate, int maxInFlight = 4096, Action<StepResult>? progress = null)
    {
        var latencies = new List<double>();
        long started = 0, errors = 0;
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(options.DurationSeconds + 30));  // the last ones may finish late
        using var reporter = Report(() => new StepResult($"{rate}/s", rate, Interlocked.Read(ref started), Interlocked.Read(ref errors), clock.Elapsed.TotalSeconds, []), progress, stop.Token);
        using var gate = new SemaphoreSlim(maxInFlight);
        var inFlight = new List<Task>();
        var next = 0.0;
        while (next < options.DurationSeconds && started < options.MaxRequests)
        {
            var wait = next - clock.Elapsed.TotalSeconds;
            if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait));
            if (!await gate.WaitAsync(0)) { Interlocked.Increment(ref errors); started++; next += -Math.Log(1 - _random.NextDouble()) / rate; continue; }
            started++;
            inFlight.Add(Task.Run(async () =>
            {
                try
                {
                    var (ms, ok) = await SendAsync(stop.Token);
                    lock (latencies) latencies.Add(ms ?? (options.DurationSeconds + 30) * 1000);
                    if (ms is null || !ok) Interlocked.Increment(ref errors);
                }
                finally { gate.Release(); }
            }));
            next += -Math.Log(1 - _random.NextDouble()) / rate;
        }
        await Task.WhenAll(inFlight);
        return Result($"{rate}/s", rate, latencies, errors, Math.Max(options.DurationSeconds, 1e-9));
    }

    private static StepResult Result(string label, double level, List<double> latencies, long errors, double seconds) =>
        new(label, level, latencies.Count, errors, seconds, latencies.Order().ToArray());

    /// <summary>Live progress once a second until the step ends.</summary>
    private static IDisposable Report(Func<StepResult> snapshot, Action<StepResult>? progress, CancellationToken ct) =>
        progress is null ? new CancellationTokenSource() : new Timer(_ => { if (!ct.IsCancellationRequested) progress(snapshot()); }, null, 1000, 1000);

    private async Task<(double? Ms, bool Ok)> SendAsync(CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, options.Url) { Content = new StringContent(Body(), Encoding.UTF8, "application/json") };
        if (options.ApiKey is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.ApiKey);
        var clock = Stopwatch.StartNew();
        try
        {
            using var response = await http.SendAsync(request, ct);
            await response.Content.CopyToAsync(Stream.Null, ct);
            return (clock.Elapsed.TotalMilliseconds, response.StatusCode == HttpStatusCode.OK);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { return (null, false); }
        catch (HttpRequestException) { return (clock.Elapsed.TotalMilliseconds, false); }
    }

    private string Body()
    {
        var inputs = new string[options.InputsPerRequest];
        lock (_sent)
        {
            for (var i = 0; i < inputs.Length; i++)
            {
                if (_sent.Count > 0 && _random.NextDouble() < options.RepeatRatio) { inputs[i] = _sent[_random.Next(_sent.Count)]; continue; }
                var words = _random.Next(options.MinWords, options.MaxWords + 1);
                var text = new StringBuilder($"load {Interlocked.Increment(ref _counter)}");
                for (var w = 0; w < words; w++) text.Append(' ').Append(Words[_random.Next(Words.Length)]);
                inputs[i] = text.ToString();
                if (_sent.Count < 100_000) _sent.Add(inputs[i]);
            }
        }
        return JsonSerializer.Serialize(new { model = options.Model, input = inputs, encoding_format = "base64" });
    }
}
