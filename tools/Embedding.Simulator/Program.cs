using System.Globalization;
using System.Text;
using Embedding.Simulator;
using Microsoft.Extensions.Configuration;
using Embedding.Scaling;

// Elastic-cost simulator: one generated day of traffic through "fixed GPUs" and "elastic" (the AppHost's real scaling
// policy for the 4B tier), with the GPU latency model measured on an H100 (bench/results/gpu-batches-2026-11-25.md). Writes a markdown report, a CSV and a PNG.
//   dotnet run --project tools/Embedding.Simulator -c Release -- [--out DIR] [--price 3] [--cold-start 45|onnx-cuda] [--repeat 0.3] [--tier qwen3-embedding-4b]
//     [--trace your-day.csv]   (arrival_seconds,tokens,text_id: replays that day instead of the three generated ones)
//   -- --rank office,trickle,bench/traces/azure-llm-2023-conv.csv [--p95-goal-ms 150]: GPU types x fixed/elastic/standby
//      ranked by cost within the latency goal (Ranking.cs), written to bench/results/gpu-ranking-<date>.md
//   -- --convert-azure AzureLLMInferenceTrace_conv.csv --to bench/traces/azure-llm-2023-conv.csv
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var options = Args.Parse(args);
var root = FindRepoRoot();
var outDir = Path.GetFullPath(options.GetValueOrDefault("out", Path.Combine(root, "bench", "results")));
var price = double.Parse(options.GetValueOrDefault("price", "3"));
var coldStart = ColdStarts.Parse(options.GetValueOrDefault("cold-start", "45"));
var repeat = double.Parse(options.GetValueOrDefault("repeat", "0.3"));
var tierName = options.GetValueOrDefault("tier", "qwen3-embedding-4b");

if (options.ContainsKey("convert-azure"))
{
    // Azure LLM inference trace 2023 (CC-BY-4.0) -> the --trace CSV: --convert-azure AzureLLMInferenceTrace_conv.csv --to out.csv
    var converted = AzureLlmTrace.Convert(File.ReadLines(options["convert-azure"]));
    DiurnalTrace.WriteCsv(options["to"], converted);
    Console.WriteLine($"{converted.Count:N0} requests over {converted[^1].Arrival:F0} s -> {options["to"]}");
    return;
}

var config = new ConfigurationBuilder().AddJsonFile(Path.Combine(root, "src", "Embedding.AppHost", "appsettings.json")).Build();
var tier = config.GetSection("Embedding:Tiers").GetChildren().Single(t => t["Name"] == tierName);
var policy = config.GetSection("Embedding:Scaling").Get<ScalingPolicy>()!.For(tier.GetSection("Scaling").Get<ScalingOverrides>());
var batchTokens = int.Parse(tier["MaxBatchTokens"] ?? "8192");
Directory.CreateDirectory(outDir);
var date = DateTime.UtcNow.ToString("yyyy-MM-dd");
var standbyPolicyOf = (ScalingPolicy p) => p.For(new ScalingOverrides
    { ActivationQueueLength = 3, TargetMessageRate = p.TargetMessageRate > 0 ? p.TargetMessageRate : 60, ActivationMessageRate = 1 });
if (options.ContainsKey("rank"))
{
    // --rank office,trickle[,path/to/trace.csv,...]: GPU types and standby sizes ranked by cost within --p95-goal-ms.
    var goal = double.Parse(options.GetValueOrDefault("p95-goal-ms", "150")) / 1000;
    var tierModel = TierModel.For(tierName);
    var tierBlock = (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(root, "src", "Embedding.AppHost", "appsettings.json")))!
        ["Embedding"]!["Tiers"]!.AsArray().Single(t => t!["Name"]!.GetValue<string>() == tierName)!;
    var ranking = new StringBuilder();
    foreach (var name in options["rank"].Split(','))
    {
        var (label, trace) = name switch
        {
            "office" => ("office day", DiurnalTrace.Generate(DiurnalTraceOptions.OfficeDay with { RepeatRatio = repeat })),
            "trickle" => ("trickle day", DiurnalTrace.Generate(DiurnalTraceOptions.TrickleDay with { RepeatRatio = repeat })),
            "interactive" => ("interactive day", DiurnalTrace.Generate(new DiurnalTraceOptions { RepeatRatio = repeat })),
            _ => ($"trace {Path.GetFileNameWithoutExtension(name)}", DiurnalTrace.ReadCsv(Path.Combine(root, name))),
        };
        // Fixed replicas and standby are billed for the trace's whole hours (a day for the generated ones).
        var billed = Math.Ceiling(trace[^1].Arrival / 3600) * 3600;
        var started = DateTime.UtcNow;
        var ranked = Ranking.Run(trace, new SimulationOptions { ColdStartSeconds = coldStart, MaxBatchTokens = batchTokens, BilledSeconds = billed, Latency = tierModel.OnH100 },
            policy, standbyPolicyOf(policy), goal, GpuType.All, weightsGiB: tierModel.WeightsGiB);
        Console.WriteLine($"{label}: {trace.Count:N0} requests, {ranked.Count} setups in {(DateTime.UtcNow - started).TotalSeconds:F0} s");
        ranking.AppendLine($"## {label}: {trace.Count:N0} requests, {trace.Sum(r => (long)r.Tokens):N0} tokens over {billed / 3600:F0} h");
        ranking.AppendLine();
        ranking.AppendLine(Ranking.Markdown(label, ranked, goal, tierBlock));
    }
    var rankFile = Path.Combine(outDir, $"gpu-ranking-{date}-{tierName}.md");
    File.WriteAllText(rankFile, $"# GPU type and standby per workload: `{tierName}`, {date}\n\n" +
        $"Command: `dotnet run --project tools/Embedding.Simulator -c Release -- --tier {tierName} --rank {options["rank"]}{(options.ContainsKey("p95-goal-ms") ? $" --p95-goal-ms {options["p95-goal-ms"]}" : "")}` (deterministic).\n\n" +
        Ranking.Preamble(tierModel, coldStart, goal) + ranking);
    Console.WriteLine($"wrote {rankFile}");
    return;
}
var report = new StringBuilder();
var traceFile = options.GetValueOrDefault("trace");
var days = traceFile is not null
    ? [($"trace {Path.GetFileNameWithoutExtension(traceFile)}", (DiurnalTraceOptions?)null)]
    : new (string, DiurnalTraceOptions?)[]
    {
        ("interactive day", new DiurnalTraceOptions { RepeatRatio = repeat }),
        ("indexing day", DiurnalTraceOptions.IndexingDay with { RepeatRatio = repeat }),
        ("office day", DiurnalTraceOptions.OfficeDay with { RepeatRatio = repeat }),
    };
foreach (var (profile, traceOptions) in days)
{
    Console.WriteLine(traceOptions is null ? $"{profile}: reading {traceFile} ..."
        : $"{profile}: generating (mean {traceOptions.MeanTokensPerSecond:N0} tokens/s, {repeat:P0} repeats, seed {traceOptions.Seed}) ...");
    var trace = traceOptions is null ? DiurnalTrace.ReadCsv(traceFile!) : DiurnalTrace.Generate(traceOptions);
    Console.WriteLine($"{trace.Count:N0} requests, {trace.Sum(r => (long)r.Tokens):N0} tokens");
    var hasJobs = traceOptions is { JobStartHours.Length: > 0 };

    var baseOptions = new SimulationOptions { Policy = policy, ColdStartSeconds = coldStart, MaxBatchTokens = batchTokens };
    SimulationResult Simulate(string label, SimulationOptions o)
    {
        var started = DateTime.UtcNow;
        var r = ElasticSimulation.Run(trace, o);
        Console.WriteLine($"{label}: {r.GpuHours:F2} GPU-h, utilisation {r.Utilisation:P0}, {r.ColdStarts} cold starts, p95 {SimulationResult.Percentile(r.Latencies, 95) * 1000:F0} ms ({(DateTime.UtcNow - started).TotalSeconds:F1} s)");
        return r;
    }

    var fixedOne = Simulate("fixed 1", baseOptions with { FixedReplicas = 1 });
    var fixedTwo = Simulate("fixed 2", baseOptions with { FixedReplicas = 2 });
    var fixedThree = Simulate("fixed 3", baseOptions with { FixedReplicas = 3 });
    var elastic = Simulate("elastic", baseOptions);
    var elasticNoCache = Simulate("elastic, no cache", baseOptions with { Cache = false });
    // The same model on an always-on CPU replica with a lower consumer priority serves the trickle; the GPU wakes only
    // when messages wait (depth > 3) or the publish rate passes the CPU's ~1 request/s (the policy's rate trigger).
    var standbyPolicy = standbyPolicyOf(policy);
    var elasticStandby = Simulate("elastic + CPU standby", baseOptions with { Policy = standbyPolicy, Standby = new StandbyCpu() });
    var fixedNoCache = Simulate("fixed 1, no cache", baseOptions with { FixedReplicas = 1, Cache = false });
    // The bulk jobs submitted through /v1/batches instead of streamed: released by the batch runner at the lower priority.
    var asBatchJobs = !hasJobs ? [] : new List<(string Name, SimulationResult Result)>
    {
        ("elastic, jobs as batch jobs", Simulate("elastic, jobs as batch jobs", baseOptions with { JobsAsBatches = true })),
        ("elastic + CPU standby, jobs as batch jobs", Simulate("elastic + CPU standby, jobs as batch jobs",
            baseOptions with { Policy = standbyPolicy, Standby = new StandbyCpu(), JobsAsBatches = true })),
    };

    var sweep = new List<(int Target, int Cooldown, int Activation, SimulationResult Result)>();
    foreach (var target in new[] { 20, 64, 128 })
        foreach (var cooldown in new[] { 60, 120, 300, 600 })
            foreach (var activation in new[] { 0, 4 })
            {
                var p = policy.For(new ScalingOverrides
                {
                    TargetQueueLength = target, CooldownSeconds = cooldown, StartupSeconds = Math.Min(policy.StartupSeconds, cooldown), ActivationQueueLength = activation,
                });
                sweep.Add((target, cooldown, activation, Simulate($"elastic target {target}, cooldown {cooldown} s, activation {activation}", baseOptions with { Policy = p })));
            }

    // Headroom: how many messages/s one replica is trusted with before the rate trigger adds the next, how many replicas
    // at most, and the CPU standby: the knobs that decide how much idle GPU a bursty day keeps warm.
    var headroom = new List<(double Rate, int MaxReplicas, bool Standby, SimulationResult Result)>();
    foreach (var rate in new[] { 60.0, 120, 200 })
        foreach (var max in new[] { 2, 3 })
            foreach (var standby in new[] { false, true })
            {
                var p = policy.For(new ScalingOverrides { TargetMessageRate = rate, ActivationMessageRate = 1, MaxReplicas = max, ActivationQueueLength = standby ? 3 : 0 });
                headroom.Add((rate, max, standby, Simulate($"elastic rate {rate}/s, max {max}, standby {standby}",
                    baseOptions with { Policy = p, Standby = standby ? new StandbyCpu() : null })));
            }

    // Cold start (measured lean worker ~25 s, bench/results/cold-start-4b-*.json; the default; a model read from a network
    // share) against headroom and the scale-in window of replicas beyond the first, all with the CPU standby.
    var coldSweep = new List<(double ColdStart, double Rate, int ScaleIn, SimulationResult Result)>();
    foreach (var cold in new[] { 25, coldStart, 90 })
        foreach (var rate in new[] { 60.0, 120 })
            foreach (var scaleIn in new[] { standbyPolicy.CooldownSeconds, 60 })
            {
                var p = standbyPolicy.For(new ScalingOverrides { TargetMessageRate = rate, ScaleInSeconds = scaleIn });
                coldSweep.Add((cold, rate, scaleIn, Simulate($"cold start {cold} s, rate {rate}/s, scale-in {scaleIn} s",
                    baseOptions with { Policy = p, Standby = new StandbyCpu(), ColdStartSeconds = cold })));
            }

    // The floor: the same standby and triggers, replicas ready when asked for (billed from a cold start earlier), idle
    // no longer than a cold start costs; bulk jobs streamed and, where the day has them, as batch jobs.
    var floor = new List<(double ColdStart, double Rate, bool BatchJobs, SimulationResult Result)>();
    foreach (var cold in new[] { 25, coldStart })
        foreach (var rate in new[] { 120.0, 150 })
            foreach (var batchJobs in hasJobs ? new[] { false, true } : [false])
            {
                var window = (int)Math.Ceiling(cold);
                var p = standbyPolicy.For(new ScalingOverrides { TargetMessageRate = rate, CooldownSeconds = window, StartupSeconds = window, ScaleInSeconds = window });
                floor.Add((cold, rate, batchJobs, Simulate($"clairvoyant, cold start {cold} s, rate {rate}/s{(batchJobs ? ", jobs as batch jobs" : "")}",
                    baseOptions with { Policy = p, Standby = new StandbyCpu(), ColdStartSeconds = cold, Clairvoyant = true, JobsAsBatches = batchJobs })));
            }

    var slug = profile.Replace(' ', '-');
    var chart = Path.Combine(outDir, $"elastic-cost-{date}-{slug}.png");
    var csv = Path.Combine(outDir, $"elastic-cost-{date}-{slug}.csv");
    Charts.LoadAndReplicas(trace, [("elastic (policy)", elastic), ("elastic + CPU standby", elasticStandby)], fixedOne, chart, $"One simulated {profile}: load and GPU replicas");
    Charts.WriteMinuteCsv(trace, elastic, csv);
    report.AppendLine(Report.Markdown(profile, date, trace, traceOptions, policy, tierName, coldStart, batchTokens, price,
        fixedOne, fixedTwo, fixedThree, elastic, elasticNoCache, fixedNoCache, elasticStandby, new StandbyCpu(), asBatchJobs, sweep, headroom, Path.GetFileName(chart), Path.GetFileName(csv)));
    // The verdict weighs every real policy run at this report's cold start.
    var policyRuns = new[] { elastic, elasticStandby }.Concat(asBatchJobs.Select(b => b.Result)).Concat(sweep.Select(x => x.Result))
        .Concat(headroom.Select(h => h.Result)).Concat(coldSweep.Where(c => c.ColdStart == coldStart).Select(c => c.Result));
    report.AppendLine(Report.ColdStartAndFloor(profile, fixedOne, Report.SmallestFleet(fixedOne, fixedTwo, fixedThree).Fleet, price, standbyPolicy, coldSweep, floor, policyRuns));
}
var md = Path.Combine(outDir, traceFile is null ? $"elastic-cost-{date}.md" : $"elastic-cost-{date}-{days[0].Item1.Replace(' ', '-')}.md");
File.WriteAllText(md, $"# Elastic cost, {date}\n\nCommand: `dotnet run --project tools/Embedding.Simulator -c Release{(traceFile is null ? "" : $" -- --trace {Path.GetFileName(traceFile)}")}` " +
                      "(deterministic: seeded traces, event-driven simulation).\n\n" + report);
Console.WriteLine($"wrote {md}");

static string FindRepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "Embedding.sln"))) return dir.FullName;
    return Directory.GetCurrentDirectory();
}

internal static class Args
{
    public static Dictionary<string, string> Parse(string[] args)
    {
        var map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i + 1 < args.Length; i += 2) map[args[i].TrimStart('-')] = args[i + 1];
        return map;
    }
}
