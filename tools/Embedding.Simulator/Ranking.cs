using System.Text;
using System.Text.Json.Nodes;
using Embedding.Scaling;

namespace Embedding.Simulator;

/// <summary>One way to run a tier for a day: a GPU type, fixed or elastic, with or without CPU standby replicas.</summary>
public sealed record Setup(GpuType Gpu, int? FixedReplicas, StandbyCpu? Standby, ScalingPolicy Policy, double Headroom = 1)
{
    public string Name => FixedReplicas is { } n ? $"fixed, {n} x {Gpu.Name}"
        : $"elastic {Gpu.Name}{(Standby is { } s ? $" + {s.Describe} CPU standby" : "")}{(Headroom != 1 ? $", {Headroom:0.#}x rate per replica" : "")}";
}

/// <summary>A setup's day: its cost in dollars (GPU + standby), the same setup under the clairvoyant floor, the latency goal.</summary>
public sealed record RankedSetup(Setup Setup, SimulationResult Result, double Cost, double? FloorCost, bool MeetsGoal, SimulationResult? Floor = null)
{
    /// <summary>Where the policy paid more GPU time than the floor: cold starts billed, idle before scale-in, the rest (more or longer replicas).</summary>
    public string Difference()
    {
        if (Floor is null) return "—";
        double Hours(double seconds) => seconds / 3600;
        var wake = Hours(Result.ColdStartBilledSeconds - Floor.ColdStartBilledSeconds);
        var idle = Hours(Result.IdleBeforeLeavingSeconds - Floor.IdleBeforeLeavingSeconds);
        var rest = Result.GpuHours - Floor.GpuHours - wake - idle;
        return $"{wake:+0.00;-0.00;0.00} / {idle:+0.00;-0.00;0.00} / {rest:+0.00;-0.00;0.00}";
    }

    /// <summary>Policy cost over the floor's for the same setup (goal: at most 1.10); null for fixed fleets.</summary>
    public double? Efficiency => FloorCost is > 0 ? Cost / FloorCost : null;
}

/// <summary>
/// Ranks the ways to run one tier on one trace by cost within a latency goal (p95 of every request, nothing timed out or
/// unserved): every GPU type whose memory holds the model, as the smallest fixed fleet that meets the goal, and elastic
/// under the tier's policy (its message rate per replica scaled to the card's speed, once and twice; its replica cap
/// raised for slower cards) with no CPU standby, one or two 16-vCPU standbys, or one 4-vCPU standby; each elastic setup
/// also under the clairvoyant floor, so the report can say what the policy's decisions cost.
/// </summary>
public static class Ranking
{
    public static List<RankedSetup> Run(IReadOnlyList<TraceRequest> trace, SimulationOptions baseOptions, ScalingPolicy policy, ScalingPolicy standbyPolicy,
                                        double p95GoalSeconds, IEnumerable<GpuType> gpus, int maxFixed = 16, double weightsGiB = GpuType.Weights4BGiB)
    {
        var runs = new List<Func<RankedSetup?>>();
        var seen = new HashSet<(double, double, double, bool)>();
        // A type with another's price and speed (the serverless ACA profiles at their assumed prices) would only repeat its rows.
        foreach (var gpu in gpus.Where(g => g.Fits(weightsGiB) && seen.Add((g.PricePerHour, g.DenseTflops, g.BandwidthGBs, g.Bf16))))
        {
            var latency = gpu.LatencyFrom(baseOptions.Latency, weightsGiB);
            var speed = latency.PeakTokensPerSecond / baseOptions.Latency.PeakTokensPerSecond;
            SimulationOptions On(Setup s, bool clairvoyant = false) => baseOptions with
            {
                Latency = latency, FixedReplicas = s.FixedReplicas, Policy = clairvoyant ? Floor(s.Policy, baseOptions.ColdStartSeconds) : s.Policy,
                Standby = s.Standby, Clairvoyant = clairvoyant,
            };
            runs.Add(() => SmallestFixed(trace, gpu, maxFixed, p95GoalSeconds, n => On(new Setup(gpu, n, null, policy))));
            // The tier's per-replica message rate, and twice it (fewer replicas at a peak, where the latency goal allows).
            foreach (var headroom in new[] { 1.0, 2.0 })
            foreach (var standby in new[] { null, new StandbyCpu(), new StandbyCpu { Replicas = 2 }, StandbyCpu.Small })
            {
                var setup = new Setup(gpu, null, standby, ForSpeed(standby is not null ? standbyPolicy : policy, speed * headroom), headroom);
                runs.Add(() =>
                {
                    var result = ElasticSimulation.Run(trace, On(setup));
                    // The floor is the cheaper of two autoscalers that know the future: this policy's own triggers and
                    // windows, and the same triggers with idle replicas kept no longer than a cold start costs.
                    var floor = new[] { ElasticSimulation.Run(trace, On(setup) with { Clairvoyant = true }), ElasticSimulation.Run(trace, On(setup, clairvoyant: true)) }
                        .MinBy(f => Cost(f, gpu))!;
                    return new RankedSetup(setup, result, Cost(result, gpu), Cost(floor, gpu), Meets(result, p95GoalSeconds), floor);
                });
            }
        }
        // Each run is independent and deterministic: in parallel on every core, then in the order above.
        var ranked = new RankedSetup?[runs.Count];
        Parallel.For(0, runs.Count, i => ranked[i] = runs[i]());
        return ranked.OfType<RankedSetup>().OrderByDescending(r => r.MeetsGoal).ThenBy(r => r.Cost).ToList();
    }

    public static double Cost(SimulationResult r, GpuType gpu) => r.GpuHours * gpu.PricePerHour + r.StandbyCost;

    public static bool Meets(SimulationResult r, double p95GoalSeconds) =>
        r.TimedOut == 0 && r.Unserved == 0 && SimulationResult.Percentile(r.Latencies, 95) <= p95GoalSeconds;

    /// <summary>A slower card carries fewer messages/s per replica and may need more replicas at the peak.</summary>
    public static ScalingPolicy ForSpeed(ScalingPolicy policy, double speed) => policy.For(new ScalingOverrides
    {
        TargetMessageRate = policy.TargetMessageRate > 0 ? Math.Max(1, Math.Round(policy.TargetMessageRate * speed)) : null,
        MaxReplicas = Math.Max(policy.MaxReplicas, (int)Math.Ceiling(policy.MaxReplicas / Math.Min(1, speed))),
    });

    /// <summary>The floor's policy: the same triggers, idle replicas kept no longer than a cold start would cost.</summary>
    public static ScalingPolicy Floor(ScalingPolicy policy, double coldStartSeconds)
    {
        var window = (int)Math.Ceiling(coldStartSeconds);
        return policy.For(new ScalingOverrides { CooldownSeconds = window, StartupSeconds = window, ScaleInSeconds = window });
    }

    /// <summary>The smallest fixed fleet that meets the goal: doubling until one does, then halving the gap.</summary>
    private static RankedSetup? SmallestFixed(IReadOnlyList<TraceRequest> trace, GpuType gpu, int max, double goal, Func<int, SimulationOptions> options)
    {
        var runs = new Dictionary<int, RankedSetup>();
        RankedSetup Try(int n)
        {
            if (runs.TryGetValue(n, out var known)) return known;
            var r = ElasticSimulation.Run(trace, options(n));
            return runs[n] = new RankedSetup(new Setup(gpu, n, null, new ScalingPolicy()), r, Cost(r, gpu), null, Meets(r, goal));
        }
        var high = 1;
        while (!Try(high).MeetsGoal && high < max) high = Math.Min(max, high * 2);
        if (!Try(high).MeetsGoal) return Try(high);
        var low = high / 2;  // fails (or 0)
        while (high - low > 1)
        {
            var mid = (low + high) / 2;
            if (Try(mid).MeetsGoal) high = mid; else low = mid;
        }
        return Try(high);
    }

    public static string Preamble(TierModel model, double coldStartSeconds, double p95GoalSeconds)
    {
        var s = new StringBuilder();
        s.AppendLine($"Tier: `{model.Name}` ({model.WeightsGiB} GiB of 16-bit weights). Speed per GPU type: the H100-measured model " +
                     $"(floor {model.OnH100.FloorMilliseconds} ms, {model.OnH100.PeakTokensPerSecond:N0} tokens/s) with throughput scaled by dense fp16/bf16 tensor TFLOPS and the floor's weight read by memory " +
                     $"bandwidth (`GpuType.LatencyFrom`); cold start {coldStartSeconds} s, billed. Latency goal: p95 of every request <= {p95GoalSeconds * 1000:F0} ms " +
                     "(`--p95-goal-ms`; the original deployment's targets: < 30 ms for a 0.6B real-time tier, < 150 ms for a 4B ranking tier), no 503 after 60 s, nothing unserved. Elastic setups use the AppHost's policy for the tier with " +
                     "its per-replica message rate scaled to the card's speed and its replica cap raised to match; CPU standby replicas serve the same " +
                     "model at 320 tokens/s on 16 vCPUs ($0.68/h each; measured for the 4B architecture) or 80 tokens/s on 4 vCPUs ($0.17/h, scaled by cores) with a lower consumer priority. The floor: the same setup with replicas ready the moment they " +
                     "are needed (billed from a cold start earlier), under its own windows or with idle replicas kept no longer than a cold start " +
                     "costs, whichever is cheaper: a reference, not a proven bound (a ratio under 1.00 says the policy beat it). Where the policy " +
                     "pays more, the GPU-hours over the floor are split into wake-ups (cold starts billed), idle time before scale-in, and the rest " +
                     "(more or longer replicas). Serverless profiles at the same price and speed as a VM type (ACA-A100 at the A100's assumed " +
                     "price) are not ranked twice; a card must hold the weights in its precision in 80 % of its memory (T4: fp32). An INT8 " +
                     "standby (weight-only 8-bit) runs as fast as FP32 from 128 tokens up and 4x slower on one short text " +
                     "(bench/results/onnx-peer-2026-12-01.md) in half the memory: priced by vCPUs it is never cheaper, so it has no row of its own.");
        s.AppendLine();
        s.AppendLine("| GPU type | data sheet: dense fp16/bf16 TFLOPS, memory bandwidth, memory | modelled floor, peak tokens/s for this tier | price (source) |");
        s.AppendLine("|---|---|---|---|");
        foreach (var g in GpuType.All)
        {
            var m = g.LatencyFrom(model.OnH100, model.WeightsGiB);
            s.AppendLine($"| {g.Name} | {g.DenseTflops:F0}, {g.BandwidthGBs:N0} GB/s, {g.MemoryGiB:F0} GB{(g.Bf16 ? "" : " (no bf16: fp32, half rate)")} | " +
                         (g.Fits(model.WeightsGiB) ? $"{m.FloorMilliseconds:F1} ms, {m.PeakTokensPerSecond:N0}" : "weights do not fit") + $" | ${g.PricePerHour:F3}/h ({g.PriceSource}) |");
        }
        s.AppendLine();
        return s.ToString();
    }

    public static string Markdown(string profile, IReadOnlyList<RankedSetup> ranked, double p95GoalSeconds, JsonObject tierBlock)
    {
        var s = new StringBuilder();
        var cheapestFixed = ranked.Where(r => r.Setup.FixedReplicas is not null && r.MeetsGoal).MinBy(r => r.Cost);
        s.AppendLine($"### {profile}: setups ranked by cost within the latency goal (p95 <= {p95GoalSeconds * 1000:F0} ms, none timed out or unserved)");
        s.AppendLine();
        s.AppendLine("| rank | setup | $/GPU-hour | GPU-hours | standby $ | cost | vs cheapest fixed | floor cost | policy / floor | GPU-h over the floor: wake-ups / idle before scale-in / more replicas | p95 | warm p95 | cold starts | 503 after 60 s | meets goal |");
        s.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        var rank = 0;
        foreach (var r in ranked)
        {
            var vsFixed = cheapestFixed is null ? "—" : $"{r.Cost / cheapestFixed.Cost:P0}";
            s.AppendLine($"| {(r.MeetsGoal ? (++rank).ToString() : "—")} | {r.Setup.Name} | ${r.Setup.Gpu.PricePerHour:F2} | {r.Result.GpuHours:F2} | ${r.Result.StandbyCost:F2} | " +
                         $"**${r.Cost:F2}** | {vsFixed} | {(r.FloorCost is { } f ? $"${f:F2}" : "—")} | {(r.Efficiency is { } e ? $"{e:F2}" : "—")} | {r.Difference()} | " +
                         $"{SimulationResult.Percentile(r.Result.Latencies, 95) * 1000:F0} ms | {SimulationResult.Percentile(r.Result.WarmLatencies, 95) * 1000:F0} ms | " +
                         $"{r.Result.ColdStarts} | {r.Result.TimedOut:N0} | {(r.MeetsGoal ? "yes" : "no")} |");
        }
        s.AppendLine();
        var winner = ranked.FirstOrDefault(r => r.MeetsGoal);
        if (winner is null)
        {
            s.AppendLine("No setup meets the latency goal on this trace.");
            return s.ToString();
        }
        if (cheapestFixed is not null)
            s.AppendLine($"Cheapest: **{winner.Setup.Name}**, ${winner.Cost:F2}: a saving of **{1 - winner.Cost / cheapestFixed.Cost:P0}** against the cheapest fixed " +
                         $"setup that meets the same goal ({cheapestFixed.Setup.Name}, ${cheapestFixed.Cost:F2}).");
        var elastic = ranked.Where(r => r.Efficiency is not null && r.MeetsGoal).ToList();
        if (elastic.Count > 0)
            s.AppendLine($"Policy against the clairvoyant floor (same setup): {string.Join("; ", elastic.Select(r => $"{r.Setup.Name} {r.Efficiency:F2}x"))} (goal <= 1.10).");
        s.AppendLine();
        s.AppendLine("The winner as the tier block of `src/Embedding.AppHost/appsettings.json` (`Embedding:Tiers`):");
        s.AppendLine();
        s.AppendLine("```json");
        // Printed as it would be written in appsettings.json (no \u escapes for <, > and ').
        s.AppendLine(TierBlock(tierBlock, winner).ToJsonString(new System.Text.Json.JsonSerializerOptions
            { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        s.AppendLine("```");
        return s.ToString();
    }

    /// <summary>The tier's own block with the winner's GPU type, standby and scaling written into it.</summary>
    public static JsonObject TierBlock(JsonObject tier, RankedSetup winner)
    {
        var block = (JsonObject)tier.DeepClone();
        block["Gpu"] = winner.Setup.Gpu.Name;
        var scaling = block["Scaling"] as JsonObject ?? new JsonObject();
        if (winner.Setup.FixedReplicas is { } n)
        {
            scaling["MinReplicas"] = n;
            scaling["MaxReplicas"] = n;
        }
        else
        {
            var p = winner.Setup.Policy;
            scaling["MaxReplicas"] = p.MaxReplicas;
            scaling["ActivationQueueLength"] = p.ActivationQueueLength;
            if (p.TargetMessageRate > 0) (scaling["TargetMessageRate"], scaling["ActivationMessageRate"]) = (p.TargetMessageRate, p.ActivationMessageRate);
        }
        block["Scaling"] = scaling;
        if (winner.Setup.Standby is { } standby)
        {
            // The standby runs the tier's model from an ONNX export: the tier's own where it has one, else one to name.
            var hasExport = block["HubRepository"] is not null || block["OnnxModelPath"] is not null;
            var existing = block["Standby"] as JsonObject
                ?? (hasExport ? new JsonObject() : new JsonObject { ["HubRepository"] = "<an ONNX export of the tier's model>" });
            existing["Replicas"] = standby.Replicas;
            block["Standby"] = existing;
        }
        else block.Remove("Standby");
        return block;
    }
}
