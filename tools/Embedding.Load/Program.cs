using System.Globalization;
using System.Net;
using System.Text;
using Embedding.Load;
using ScottPlot;

// Drives an OpenAI-compatible POST /v1/embeddings and reports QPS and latency, closed loop over concurrencies or open loop
// over arrival rates. Loopback only unless --allow-remote. Bounded by --duration per step and --max-requests.
//   dotnet run --project tools/Embedding.Load -c Release -- --url http://127.0.0.1:5080/v1/embeddings --model M
//       [--name stack] [--compare URL --compare-name direct] [--concurrency 1,8,32,64,128 | --rates 50,100,200]
//       [--duration 10] [--max-requests N] [--words 16-64] [--inputs 1] [--repeat 0.2] [--api-key K] [--out DIR] [--allow-remote true]
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var a = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
for (var i = 0; i + 1 < args.Length; i += 2) a[args[i].TrimStart('-')] = args[i + 1];
string Arg(string key, string fallback) => a.TryGetValue(key, out var v) ? v : fallback;

var targets = new List<(string Name, Uri Url)> { (Arg("name", "target"), new Uri(Arg("url", "http://127.0.0.1:5080/v1/embeddings"))) };
if (a.TryGetValue("compare", out var compare)) targets.Add((Arg("compare-name", "compare"), new Uri(compare)));
foreach (var (_, url) in targets)
{
    var loopback = url.IsLoopback || (IPAddress.TryParse(url.Host, out var ip) && IPAddress.IsLoopback(ip));
    if (!loopback && Arg("allow-remote", "false") != "true")
    {
        Console.Error.WriteLine($"{url} is not a loopback address; pass --allow-remote true to load a remote service (only one you run).");
        return 2;
    }
}

var words = Arg("words", "16-64").Split('-').Select(int.Parse).ToArray();
var openLoop = a.ContainsKey("rates");
var levels = Arg(openLoop ? "rates" : "concurrency", openLoop ? "" : "1,8,32,64,128").Split(',').Select(double.Parse).ToArray();
var outDir = Arg("out", "bench/results");
var stamp = DateTime.UtcNow.ToString("yyyy-MM-dd");
var prefix = Path.Combine(outDir, Arg("file", $"load-{stamp}"));
Directory.CreateDirectory(outDir);

using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 4096, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    { Timeout = TimeSpan.FromMinutes(2) };
var results = new List<(string Target, StepResult Step)>();
foreach (var (name, url) in targets)
{
    var run = new LoadRun(new LoadOptions
    {
        Url = url, Model = Arg("model", "qwen3-embedding-tiny-test"), ApiKey = a.GetValueOrDefault("api-key"),
        DurationSeconds = double.Parse(Arg("duration", "10")), MaxRequests = long.Parse(Arg("max-requests", long.MaxValue.ToString())),
        MinWords = words[0], MaxWords = words[^1], InputsPerRequest = int.Parse(Arg("inputs", "1")), RepeatRatio = double.Parse(Arg("repeat", "0")),
    }, http);
    foreach (var level in levels)
    {
        void Progress(StepResult s) => Console.Write($"\r{name}, {s.Label}: {s.Requests:N0} requests, {s.Errors:N0} errors, {s.Requests / Math.Max(s.Seconds, 1e-9):F0}/s   ");
        var step = openLoop ? await run.OpenLoopAsync(level, progress: Progress) : await run.ClosedLoopAsync((int)level, Progress);
        Console.WriteLine($"\r{name}, {step.Label}: {step.Qps:F0} req/s, p50 {step.Percentile(50):F1} ms, p99 {step.Percentile(99):F1} ms, {step.Errors} errors          ");
        results.Add((name, step));
    }
}

// Markdown, CSV, chart.
var md = new StringBuilder();
md.AppendLine($"# Load, {stamp}");
md.AppendLine();
md.AppendLine($"Machine: {Environment.ProcessorCount} cores; the load tool shares them with what it loads. Command: `{Arg("command", "dotnet run --project tools/Embedding.Load -c Release -- " + string.Join(' ', args))}`.");
md.AppendLine($"Requests: {Arg("inputs", "1")} input(s) of {words[0]}-{words[^1]} words, {double.Parse(Arg("repeat", "0")):P0} repeated; {(openLoop ? "open loop (Poisson arrivals)" : "closed loop")}, {Arg("duration", "10")} s per step.");
md.AppendLine();
md.AppendLine($"| target | {(openLoop ? "offered rate" : "concurrency")} | QPS | avg | p50 | p95 | p99 | errors |");
md.AppendLine("|---|---|---|---|---|---|---|---|");
foreach (var (target, s) in results)
    md.AppendLine($"| {target} | {s.Label} | {s.Qps:F1} | {s.Average:F1} ms | {s.Percentile(50):F1} ms | {s.Percentile(95):F1} ms | {s.Percentile(99):F1} ms | {s.Errors} |");
if (targets.Count == 2)
{
    md.AppendLine();
    md.AppendLine($"| {(openLoop ? "offered rate" : "concurrency")} | QPS {targets[0].Name} / {targets[1].Name} | p50 {targets[0].Name} / {targets[1].Name} |");
    md.AppendLine("|---|---|---|");
    foreach (var level in levels)
    {
        var x = results.First(r => r.Target == targets[0].Name && r.Step.Level == level).Step;
        var y = results.First(r => r.Target == targets[1].Name && r.Step.Level == level).Step;
        md.AppendLine($"| {x.Label} | {x.Qps / y.Qps:F2} | {x.Percentile(50) / Math.Max(y.Percentile(50), 1e-9):F2} |");
    }
}
md.AppendLine();
md.AppendLine($"![QPS and latency]({Path.GetFileName(prefix)}.png)  (raw: `{Path.GetFileName(prefix)}.csv`)");
await File.WriteAllTextAsync(prefix + ".md", md.ToString());

await using (var csv = new StreamWriter(prefix + ".csv"))
{
    await csv.WriteLineAsync("target,level,requests,errors,seconds,qps,avg_ms,p50_ms,p95_ms,p99_ms");
    foreach (var (target, s) in results)
        await csv.WriteLineAsync($"{target},{s.Level},{s.Requests},{s.Errors},{s.Seconds:F3},{s.Qps:F2},{s.Average:F3},{s.Percentile(50):F3},{s.Percentile(95):F3},{s.Percentile(99):F3}");
}

var plot = new Plot();
foreach (var (name, _) in targets)
{
    var steps = results.Where(r => r.Target == name).Select(r => r.Step).ToArray();
    var xs = steps.Select(s => s.Level).ToArray();
    var qps = plot.Add.Scatter(xs, steps.Select(s => s.Qps).ToArray());
    qps.LegendText = $"{name}: QPS";
    var p99 = plot.Add.Scatter(xs, steps.Select(s => s.Percentile(99)).ToArray());
    p99.LegendText = $"{name}: p99 latency (ms, right axis)";
    p99.LinePattern = LinePattern.Dashed;
    p99.Axes.YAxis = plot.Axes.Right;
}
plot.Title("QPS and p99 latency");
plot.Axes.Bottom.Label.Text = openLoop ? "offered requests/s" : "concurrent clients";
plot.Axes.Left.Label.Text = "requests/s";
plot.Axes.Right.Label.Text = "p99 latency (ms)";
plot.ShowLegend(Alignment.UpperLeft);
plot.SavePng(prefix + ".png", 1200, 600);
Console.WriteLine($"wrote {prefix}.md, .csv, .png");
return 0;
