using System.Text;
using Embedding.Scaling;

namespace Embedding.Simulator;

public static class Report
{
    private const double OpenAISmall = 0.02, OpenAILarge = 0.13, HostedQwen4B = 0.02;

    private static string Ms(double seconds) => $"{seconds * 1000:F0} ms";

    public static string Markdown(string profile, string date, IReadOnlyList<TraceRequest> trace, DiurnalTraceOptions? traceOptions, ScalingPolicy policy,
        string tier, double coldStart, int batchTokens, double price,
        SimulationResult fixedOne, SimulationResult fixedTwo, SimulationResult fixedThree, SimulationResult elastic, SimulationResult elasticNoCache, SimulationResult fixedNoCache,
        SimulationResult elasticStandby, StandbyCpu standby, IReadOnlyList<(string Name, SimulationResult Result)> asBatchJobs,
        List<(int Target, int Cooldown, int Activation, SimulationResult Result)> sweep,
        List<(double Rate, int MaxReplicas, bool Standby, SimulationResult Result)> headroom, string chart, string csv)
    {
        string Row(string name, SimulationResult r) =>
            $"| {name} | {r.GpuHours:F2} | {r.Utilisation:P0} | ${r.Cost(price):F2} | ${r.CostPerMillionTokens(price):F4} | {r.ColdStarts} | {r.WaitedOnColdStart:N0} | " +
            $"{Ms(SimulationResult.Percentile(r.Latencies, 50))} | {Ms(SimulationResult.Percentile(r.Latencies, 95))} | {Ms(SimulationResult.Percentile(r.Latencies, 99))} | " +
            $"{Ms(SimulationResult.Percentile(r.WarmLatencies, 95))} | {r.TimedOut:N0} | {r.Unserved} |";

        var tokens = trace.Sum(r => (long)r.Tokens);
        var s = new StringBuilder();
        s.AppendLine($"## The {profile}");
        s.AppendLine();
        s.Append(DescribeTrace(trace, tokens, traceOptions));
        s.AppendLine($"GPU: the latency model measured for Qwen3-Embedding-4B on an H100 (floor 8.6 ms, 48k tokens/s, packed batches of up to {batchTokens} tokens);");
        s.AppendLine($"cold start {coldStart} s (container start + model load from a volume), billed. Price: ${price}/GPU-hour (H100 on demand).");
        s.AppendLine($"Elastic policy: the AppHost's own for `{tier}` — {policy.TargetQueueLength} messages per replica, activation > {policy.ActivationQueueLength}, " +
                     (policy.TargetMessageRate > 0 ? $"and a publish-rate trigger of {policy.TargetMessageRate} messages/s per replica (active above {policy.ActivationMessageRate}/s), " : "") +
                     $"{policy.MinReplicas}..{policy.MaxReplicas} replicas, polling {policy.PollingIntervalSeconds} s, cooldown {policy.CooldownSeconds} s.");
        s.AppendLine($"CPU standby (last row): {standby.Replicas} always-on CPU replica of the same model ({standby.TokensPerSecond} tokens/s, {standby.FloorSeconds * 1000:F0} ms floor: " +
                     $"the 4B architecture measured on 16 cores, bench/results/cpu-4b-2026-11-25.json; ${standby.PricePerHour}/h) with a lower consumer priority, and the GPU " +
                     "activated only when more than 3 messages wait or more than 1 message/s is published.");
        s.AppendLine();
        s.AppendLine("| setup | GPU-hours | utilisation | cost | per 1M tokens | cold starts | requests that met a cold start | p50 | p95 | p99 | warm p95 | 503 after 60 s (retried) | unserved |");
        s.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        s.AppendLine(Row("fixed, 1 GPU", fixedOne));
        s.AppendLine(Row("fixed, 2 GPUs", fixedTwo));
        s.AppendLine(Row("fixed, 3 GPUs", fixedThree));
        s.AppendLine(Row("**elastic (policy)**", elastic));
        s.AppendLine(Row("elastic, no cache", elasticNoCache));
        s.AppendLine(Row("fixed, 1 GPU, no cache", fixedNoCache));
        s.AppendLine(Row("**elastic + CPU standby**", elasticStandby));
        foreach (var (name, r) in asBatchJobs) s.AppendLine(Row($"**{name}**", r));
        s.AppendLine();
        var (fixedName, fixedFleet) = SmallestFleet(fixedOne, fixedTwo, fixedThree);
        var ratio = elastic.GpuHours / fixedFleet.GpuHours;
        var warmRatio = WarmRatio(elastic, fixedFleet);
        s.AppendLine(ReferenceEquals(fixedFleet, fixedOne)
            ? $"One fixed GPU, {fixedOne.Utilisation:P0} busy, carries this day (p95 {Ms(SimulationResult.Percentile(fixedOne.Latencies, 95))})."
            : $"One fixed GPU is {fixedOne.Utilisation:P0} busy on this day but cannot carry its peaks (p95 {Ms(SimulationResult.Percentile(fixedOne.Latencies, 95))}, " +
              $"{fixedOne.TimedOut:N0} requests past 60 s); the smallest fixed fleet at interactive latency is {fixedName}.");
        s.AppendLine($"**Elastic uses {ratio:P0} of that fleet's GPU-hours** and {elastic.GpuHours / fixedOne.GpuHours:P0} of one fixed GPU's " +
                     $"(goal <= 35 %; the original claimed 40 %: 9.6 of 24 GPU-hours), at {elastic.Utilisation:P0} utilisation. " +
                     $"Warm p95 elastic / {fixedName} = {warmRatio:F2} (goal <= 1.2). Unserved requests: {elastic.Unserved} (goal 0); " +
                     $"{elastic.TimedOut:N0} waited past the API's 60 s and got 503 + Retry-After (fixed, 1 GPU: {fixedOne.TimedOut:N0}).");
        s.AppendLine($"Cost per million tokens served: elastic **${elastic.CostPerMillionTokens(price):F4}**, fixed ${fixedOne.CostPerMillionTokens(price):F4} (goal < $0.02); " +
                     $"hosted: OpenAI text-embedding-3-small ${OpenAISmall}, -large ${OpenAILarge}, hosted Qwen3-Embedding-4B about ${HostedQwen4B}. " +
                     $"A saturated H100 ({48_000:N0} tokens/s at ${price}/h) would be ${price / (48_000 * 3600 / 1e6):F4}.");
        var best = elasticStandby;
        s.AppendLine($"**With the CPU standby, elastic uses {best.GpuHours / fixedFleet.GpuHours:P0} of the fixed fleet's GPU-hours** ({best.GpuHours:F1} h; {best.GpuHours / fixedOne.GpuHours:P0} of one fixed GPU's), " +
                     $"{best.ColdStarts} cold starts, warm p95 {Ms(SimulationResult.Percentile(best.WarmLatencies, 95))} = {WarmRatio(best, fixedFleet):F2}x the fixed fleet's, " +
                     $"p99 {Ms(SimulationResult.Percentile(best.Latencies, 99))}; the CPU served {best.StandbyServed:N0} requests (nights, lulls, the first seconds of a wake-up); " +
                     $"{best.TimedOut:N0} past 60 s, {best.Unserved} unserved. Cost ${best.Cost(price):F2} with the CPU = **${best.CostPerMillionTokens(price):F4} per 1M tokens**.");
        var budget = GoalBudget(best);
        s.AppendLine($"At $0.02 per 1M tokens this whole day ({best.TokensServed / 1e6:N0}M tokens) is worth **${budget:F2}**: {budget / price:F1} GPU-hours at ${price}/h. " +
                     $"Cost per token is GPU price / (tokens/s x utilisation), so the goal needs a GPU price below ${budget / elastic.GpuHours:F2}/h with the elastic policy " +
                     $"(${Math.Max(0, budget - best.StandbyCost) / best.GpuHours:F2}/h with the CPU standby, whose ${best.StandbyCost:F2}/day counts too), " +
                     "or several times this day's traffic per GPU-hour; at this volume and price it is not reached by any setup here.");
        if (asBatchJobs.Count > 0 && traceOptions is not null)
        {
            var streamedHours = (1 - traceOptions.InteractiveShare) * traceOptions.MeanTokensPerSecond * traceOptions.DaySeconds / traceOptions.JobTokensPerSecond / traceOptions.JobStartHours.Length / 3600;
            var jobs = asBatchJobs.MinBy(b => b.Result.GpuHours).Result;
            var longest = jobs.Jobs.Values.Max(j => j.End - j.Start) / 3600;
            s.AppendLine($"**Submitted as batch jobs** (`/v1/batches`: every line there at submission, {new SimulationOptions().JobWindowPerReplica} in flight per ready GPU at the queue's " +
                         $"lower priority, interactive requests first), the same jobs need {asBatchJobs[0].Result.GpuHours:F1} GPU-hours, {jobs.GpuHours:F1} with the CPU standby " +
                         $"({jobs.GpuHours / fixedFleet.GpuHours:P0} of the fixed fleet, utilisation {jobs.Utilisation:P0}); each job finished within {longest:F2} h of submission " +
                         $"(streamed at {traceOptions.JobTokensPerSecond:N0} tokens/s: {streamedHours:F2} h); interactive warm p95 {Ms(SimulationResult.Percentile(jobs.WarmLatencies, 95))}, " +
                         $"cost **${jobs.CostPerMillionTokens(price):F4} per 1M tokens**.");
        }
        s.AppendLine($"The cache ({elastic.CacheHits:N0} hits, {(double)elastic.CacheHits / elastic.Requests:P0} of requests) saves {1 - elastic.BusySeconds / elasticNoCache.BusySeconds:P0} of the GPU's busy time " +
                     $"and {1 - elastic.GpuHours / elasticNoCache.GpuHours:P0} of elastic GPU-hours (the original claimed -40 % GPU load).");
        s.AppendLine();
        s.AppendLine($"![load and replicas]({chart})  (per-minute data: `{csv}`)");
        s.AppendLine();
        s.AppendLine($"### {profile}: target, cooldown and activation threshold against cost, cold starts and latency");
        s.AppendLine();
        s.Append(SweepHeader("messages per replica", "cooldown", "activation (> messages)"));
        foreach (var (target, cooldown, activation, r) in sweep)
            s.AppendLine($"| {target} | {cooldown} s | {activation} | {SweepCells(r, fixedFleet)}");
        s.AppendLine();
        s.AppendLine("Shorter cooldowns save GPU-hours but pay more cold starts; an activation threshold keeps single stray requests");
        s.AppendLine("from waking a GPU at night, at the price of those requests waiting for company (and a cold start).");
        s.AppendLine();
        s.AppendLine($"### {profile}: headroom — messages/s per replica before the rate trigger adds one, max replicas, CPU standby (cooldown {policy.CooldownSeconds} s)");
        s.AppendLine();
        s.Append(SweepHeader("messages/s per replica", "max replicas", "CPU standby"));
        foreach (var (rate, max, withStandby, r) in headroom)
            s.AppendLine($"| {rate:F0} | {max} | {(withStandby ? "yes" : "no")} | {SweepCells(r, fixedFleet)}");
        s.AppendLine();
        s.AppendLine("Trusting a replica with more messages/s before adding the next saves GPU-hours until a burst arrives faster than a");
        s.AppendLine($"replica can start ({coldStart} s): then the backlog costs seconds of latency.");
        var withinGoal = headroom.Where(h => WarmRatio(h.Result, fixedFleet) <= 1.2)
            .OrderBy(h => h.Result.GpuHours).FirstOrDefault();
        s.AppendLine(withinGoal.Result is null ? "No setup here keeps warm p95 within 1.2x of the fixed fleet." :
            $"Within the warm-p95 goal (<= 1.2x) the fewest GPU-hours here are {withinGoal.Result.GpuHours:F1} ({withinGoal.Result.GpuHours / fixedFleet.GpuHours:P0} of the fixed fleet): " +
            $"{withinGoal.Rate:F0} messages/s per replica, at most {withinGoal.MaxReplicas} replicas, {(withinGoal.Standby ? "with" : "without")} the CPU standby.");
        return s.ToString();
    }

    /// <summary>What the day's tokens are worth at the price goal ($0.02 per 1M, the hosted price): the most a setup may cost.</summary>
    private static double GoalBudget(SimulationResult r) => HostedQwen4B * r.TokensServed / 1e6;

    /// <summary>Warm p95 against the fixed fleet's: the latency goal is at most 1.2.</summary>
    private static double WarmRatio(SimulationResult r, SimulationResult fixedFleet) =>
        SimulationResult.Percentile(r.WarmLatencies, 95) / SimulationResult.Percentile(fixedFleet.WarmLatencies, 95);

    /// <summary>A sweep table's header: the knobs varied, then the same result columns for every sweep.</summary>
    private static string SweepHeader(params string[] knobs)
    {
        string[] columns = [.. knobs, "GPU-hours", "vs the fixed fleet", "cold starts", "requests that met a cold start", "p95", "p99", "warm p95", "warm p95 vs fixed", "503 after 60 s"];
        return $"| {string.Join(" | ", columns)} |\n|{string.Concat(columns.Select(_ => "---|"))}\n";
    }

    /// <summary>One sweep run's result columns, against the fixed fleet.</summary>
    private static string SweepCells(SimulationResult r, SimulationResult fixedFleet)
    {
        var warm = SimulationResult.Percentile(r.WarmLatencies, 95);
        return $"{r.GpuHours:F2} | {r.GpuHours / fixedFleet.GpuHours:P0} | {r.ColdStarts} | {r.WaitedOnColdStart:N0} | " +
               $"{Ms(SimulationResult.Percentile(r.Latencies, 95))} | {Ms(SimulationResult.Percentile(r.Latencies, 99))} | {Ms(warm)} | " +
               $"{WarmRatio(r, fixedFleet):F2} | {r.TimedOut:N0} |";
    }

    /// <summary>What the day is: the generator's settings, or for a trace read from a file, what it holds.</summary>
    private static string DescribeTrace(IReadOnlyList<TraceRequest> trace, long tokens, DiurnalTraceOptions? o)
    {
        if (o is null)
        {
            var seconds = Math.Max(1, trace.Count == 0 ? 0 : trace[^1].Arrival);
            var repeats = 1 - trace.Select(r => r.TextId).Distinct().Count() / (double)Math.Max(1, trace.Count);
            return $"Trace: {trace.Count:N0} requests, {tokens:N0} tokens over {seconds / 3600:F1} h; mean {tokens / seconds:N0} tokens/s " +
                   $"(one 48k-tokens/s GPU {tokens / seconds / 48_000:P0} busy); {repeats:P0} of requests repeat an earlier text.\n";
        }
        var curve = o.JobStartHours.Length > 0
            ? $"{o.InteractiveShare:P0} of tokens interactive (the same curve, silent night), the rest in {o.JobStartHours.Length} bulk indexing jobs at {o.JobTokensPerSecond:N0} tokens/s " +
              $"starting at {string.Join(", ", o.JobStartHours.Select(h => $"{(int)h:D2}:{(int)(h % 1 * 60):D2}"))};"
            : (o.Shape == DayShape.OfficeHours
                ? "Interactive traffic of one office in one time zone: 08:30-17:30 with a morning high and a lunch dip, nothing in the evening, "
                : "Interactive traffic: peaks at 10:30 and 14:45, a small evening shoulder, ") +
              $"a quiet night ({o.NightShare:P2} of peak), {o.Bursts} bursts of {o.BurstMinutes} min at {o.BurstMultiplier}x;";
        return $"Trace: {trace.Count:N0} requests, {tokens:N0} tokens; mean {o.MeanTokensPerSecond:N0} tokens/s (one GPU 18 % busy, as the original deployment).\n" +
               curve + "\n" +
               $"request sizes log-normal around {o.MedianTokens} tokens; {o.RepeatRatio:P0} of requests repeat an earlier text.\n";
    }

    /// <summary>The smallest fixed fleet that serves the day at interactive latency (p95 under a second, nothing past the timeout): what elastic is measured against.</summary>
    public static (string Name, SimulationResult Fleet) SmallestFleet(SimulationResult one, SimulationResult two, SimulationResult three) =>
        new[] { ("1 GPU", one), ("2 GPUs", two), ("3 GPUs", three) }
            .FirstOrDefault(f => SimulationResult.Percentile(f.Item2.Latencies, 95) < 1.0 && f.Item2.TimedOut == 0, ("3 GPUs", three));

    /// <summary>
    /// How the cold start and the scale-in window move the cost (with the CPU standby), and the floor: what an autoscaler
    /// that knew the future would pay with the same cold start. Ends with the goal's verdict for the day.
    /// </summary>
    public static string ColdStartAndFloor(string profile, SimulationResult fixedOne, SimulationResult fixedFleet, double price, ScalingPolicy standbyPolicy,
        List<(double ColdStart, double Rate, int ScaleIn, SimulationResult Result)> sweep,
        List<(double ColdStart, double Rate, bool BatchJobs, SimulationResult Result)> floor,
        IEnumerable<SimulationResult> everyPolicyRun)
    {
        var s = new StringBuilder();
        s.AppendLine($"### {profile}: cold start and scale-in window (CPU standby, cooldown for the last replica {standbyPolicy.CooldownSeconds} s, at most {standbyPolicy.MaxReplicas} replicas)");
        s.AppendLine();
        s.Append(SweepHeader("cold start", "messages/s per replica", "scale-in window (replicas beyond the first)"));
        foreach (var (coldStart, rate, scaleIn, r) in sweep)
            s.AppendLine($"| {coldStart} s | {rate:F0} | {scaleIn} s | {SweepCells(r, fixedFleet)}");
        s.AppendLine();
        s.AppendLine("A shorter cold start lets a replica be trusted with more traffic before the next is started (a burst waits less for");
        s.AppendLine("it); a short scale-in window sends peak replicas home sooner, paid for when the next burst finds them gone (p99).");
        s.AppendLine();
        s.AppendLine($"### {profile}: the floor — an autoscaler that knew the future");
        s.AppendLine();
        s.AppendLine("Replicas are ready the moment the policy asks for them (as if started one cold start earlier, and billed from then),");
        s.AppendLine("stay idle no longer than a cold start costs (cooldown and scale-in window = the cold start), with the CPU standby.");
        s.AppendLine("No request waits for a model to load; what remains is the GPU time this day's traffic needs with this cold start.");
        s.AppendLine();
        s.AppendLine("| cold start | messages/s per replica | bulk jobs | GPU-hours | vs the fixed fleet | vs one fixed GPU | p95 | p99 | warm p95 vs fixed |");
        s.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var (coldStart, rate, batchJobs, r) in floor)
            s.AppendLine($"| {coldStart} s | {rate:F0} | {(batchJobs ? "batch jobs" : floor.Any(f => f.BatchJobs) ? "streamed" : "none")} | {r.GpuHours:F2} | {r.GpuHours / fixedFleet.GpuHours:P0} | {r.GpuHours / fixedOne.GpuHours:P0} | " +
                         $"{Ms(SimulationResult.Percentile(r.Latencies, 95))} | {Ms(SimulationResult.Percentile(r.Latencies, 99))} | {WarmRatio(r, fixedFleet):F2} |");
        s.AppendLine();
        var goal = 0.35 * fixedFleet.GpuHours;
        // The floor: the cheapest clairvoyant run within the warm-p95 goal (the first, if none is).
        var floorRun = floor.Where(f => WarmRatio(f.Result, fixedFleet) <= 1.2).Select(f => f.Result).DefaultIfEmpty(floor[0].Result).MinBy(r => r.GpuHours)!;
        var floorWithinGoal = floorRun.GpuHours;
        var best = everyPolicyRun.Where(r => WarmRatio(r, fixedFleet) <= 1.2 && r.TimedOut == 0 && r.Unserved == 0).MinBy(r => r.GpuHours);
        s.AppendLine($"**Verdict for the {profile}.** The goal is at most 35 % of the fixed fleet's GPU-hours: {goal:F1} h. " +
                     $"Knowing the future, with warm p95 within 1.2x, this day still needs {floorWithinGoal:F1} GPU-hours " +
                     (floorWithinGoal > goal ? "— more than the goal allows: **no autoscaler meets it on this day**; the traffic, not the policy, sets the floor " +
                                               "(every hour in which more arrives than the CPU standby can serve keeps a GPU up)." :
                                               "— within the goal, so a policy can meet it.") +
                     (best is null ? "" : $" The cheapest real policy run in this report within the warm-p95 goal uses {best.GpuHours:F1} GPU-hours " +
                                          $"({best.GpuHours / fixedFleet.GpuHours:P0} of the fixed fleet, {best.GpuHours / floorWithinGoal:F2}x the floor; p99 {Ms(SimulationResult.Percentile(best.Latencies, 99))}), " +
                                          $"${best.CostPerMillionTokens(price):F4} per 1M tokens with the standby's cost."));
        // The price goal at the floor: what $0.02 per 1M tokens buys, less the standby's day, spread over the floor's GPU-hours.
        var budget = GoalBudget(floorRun);
        var standbyDay = floorRun.StandbyCost;
        s.AppendLine();
        s.AppendLine($"At the floor the day costs ${floorRun.Cost(price):F2} at ${price}/GPU-hour with the standby (${floorRun.CostPerMillionTokens(price):F4} per 1M tokens); " +
                     $"$0.02 per 1M tokens buys ${budget:F2} for this day, " +
                     (budget > standbyDay ? $"so the price goal needs GPU-hours at ${(budget - standbyDay) / floorRun.GpuHours:F2} or less." :
                                            $"less than the standby alone costs (${standbyDay:F2}): with a standby the price goal is out of reach at any GPU price at this volume " +
                                            "(without one, see the GPU price the elastic policy would need, above)."));
        return s.ToString();
    }
}
