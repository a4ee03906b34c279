using Embedding.Contracts;
using Embedding.Simulator;
using Embedding.Scaling;

namespace Embedding.Tests;

/// <summary>The elastic-cost simulator's accounting on traces small enough to work out by hand.</summary>
public sealed class SimulatorTests
{
    // 10 ms floor, 10,000 tokens/s: a 100-token request takes exactly 10 ms, 200 tokens 20 ms.
    private static readonly GpuLatencyModel Gpu = new(FloorMilliseconds: 10, PeakTokensPerSecond: 10_000, SlowdownAt8kTokens: 0);

    [Fact]
    public void A_cold_start_is_seconds_or_a_measured_path_by_name()
    {
        Assert.Equal(45, ColdStarts.Parse("45"));
        Assert.Equal(ColdStarts.OnnxCuda4B, ColdStarts.Parse("onnx-cuda"));
        Assert.Contains("onnx-cuda", Assert.Throws<ArgumentException>(() => ColdStarts.Parse("fast")).Message);
    }

    [Fact]
    public void A_fixed_replica_is_billed_all_day_and_busy_only_while_it_computes()
    {
        var r = ElasticSimulation.Run([new(0, 100, 1), new(1, 100, 2)], new SimulationOptions { FixedReplicas = 1, Latency = Gpu });

        Assert.Equal(86_400, r.GpuSeconds, 6);
        Assert.Equal(0.02, r.BusySeconds, 9);
        Assert.Equal([0.01, 0.01], r.Latencies.Select(x => Math.Round(x, 9)));
        Assert.Equal(0, r.ColdStarts);
        Assert.Equal(0, r.WaitedOnColdStart);
        Assert.Equal(200, r.GpuTokens);
    }

    /// <summary>
    /// A job of three requests submitted at 0 as a batch job (one in flight per replica) and an interactive request at 1 ms:
    /// the first job request runs 0-10 ms; then the interactive one goes first (10-20 ms, latency 19 ms); the job's
    /// other two follow one at a time (20-30, 30-40 ms). Only the interactive request has a user's latency.
    /// </summary>
    [Fact]
    public void Batch_jobs_release_their_window_and_yield_to_interactive_requests()
    {
        TraceRequest[] trace = [new(0, 100, 1, Job: 0), new(0, 100, 2, Job: 0), new(0, 100, 3, Job: 0), new(0.001, 100, 4)];
        var r = ElasticSimulation.Run(trace, new SimulationOptions
        {
            FixedReplicas = 1, Latency = Gpu, MaxBatchTokens = 100, JobsAsBatches = true, JobWindowPerReplica = 1,
        });

        Assert.Equal([0.019], r.Latencies.Select(x => Math.Round(x, 9)));
        Assert.Equal((0.0, 0.04), (r.Jobs[0].Start, Math.Round(r.Jobs[0].End, 9)));
        Assert.Equal(4, r.Requests);
        Assert.Equal(0.04, r.BusySeconds, 9);

        // Streamed instead (the same trace without batch jobs), the job's requests are ordinary arrivals, served in order.
        var streamed = ElasticSimulation.Run(trace, new SimulationOptions { FixedReplicas = 1, Latency = Gpu, MaxBatchTokens = 100 });
        Assert.Equal([0.01, 0.02, 0.03, 0.039], streamed.Latencies.Select(x => Math.Round(x, 9)));
    }

    [Fact]
    public void Batches_fill_up_to_the_token_budget_in_arrival_order()
    {
        var r = ElasticSimulation.Run([new(0, 100, 1), new(0, 100, 2), new(0, 100, 3)],
            new SimulationOptions { FixedReplicas = 1, Latency = Gpu, MaxBatchTokens = 250 });

        // First forward: requests 1 and 2 (200 tokens, 20 ms); the third waits for it, then takes 10 ms.
        Assert.Equal([0.02, 0.02, 0.03], r.Latencies.Select(x => Math.Round(x, 9)));
        Assert.Equal(0.03, r.BusySeconds, 9);
    }

    /// <summary>
    /// Polls every second; a request at 0.5 s is seen at 1 s, a replica is asked for (billed from then), ready at 6 s,
    /// serves it by 6.01 s; the queue last needed it at 6 s, so after a 10 s cooldown it stops at 16 s: 15 GPU-seconds.
    /// </summary>
    [Fact]
    public void An_elastic_replica_is_billed_from_its_cold_start_until_the_cooldown_ends()
    {
        var policy = new ScalingPolicy { TargetQueueLength = 1, MaxReplicas = 1, PollingIntervalSeconds = 1, CooldownSeconds = 10, StartupSeconds = 5 };
        var r = ElasticSimulation.Run([new(0.5, 100, 1)], new SimulationOptions { Policy = policy, ColdStartSeconds = 5, Latency = Gpu });

        Assert.Equal(1, r.ColdStarts);
        Assert.Equal(1, r.WaitedOnColdStart);
        Assert.Equal(5.51, Assert.Single(r.Latencies), 9);
        Assert.Empty(r.WarmLatencies);
        Assert.Equal(15, r.GpuSeconds, 9);
        Assert.Equal(0.01, r.BusySeconds, 9);
        Assert.Equal(0, r.Unserved);
        Assert.Equal([(0.0, 0), (16.0, 0)], r.Replicas.Where(x => x.Replicas == 0).Select(x => (Math.Round(x.Time, 6), x.Replicas)));
    }

    /// <summary>
    /// The clairvoyant bound: the replica the poll at 1 s asks for has been up since 1 - 5 = -4 s (started ahead by an
    /// autoscaler that knew), serves at once (0.51 s: the poll's delay), and stops 10 s after the queue last needed it
    /// (at 1 s): 15 GPU-seconds, as the real policy's, but no request waits for a model load.
    /// </summary>
    [Fact]
    public void The_clairvoyant_bound_bills_the_cold_start_but_no_request_waits_for_it()
    {
        var policy = new ScalingPolicy { TargetQueueLength = 1, MaxReplicas = 1, PollingIntervalSeconds = 1, CooldownSeconds = 10, StartupSeconds = 5 };
        var r = ElasticSimulation.Run([new(0.5, 100, 1)], new SimulationOptions { Policy = policy, ColdStartSeconds = 5, Latency = Gpu, Clairvoyant = true });

        Assert.Equal(1, r.ColdStarts);
        Assert.Equal(0, r.WaitedOnColdStart);
        Assert.Equal(0.51, Assert.Single(r.WarmLatencies), 9);
        Assert.Equal(15, r.GpuSeconds, 9);
    }

    /// <summary>
    /// A CPU standby (0.1 s floor, 320 tokens/s: a 320-token request takes 1.1 s) serves sparse requests one at a time;
    /// the GPU, activated only above 3 waiting messages or 1 message/s, never starts. Billed: the standby all day, no GPU.
    /// </summary>
    [Fact]
    public void A_cpu_standby_serves_a_trickle_and_the_gpu_stays_at_zero()
    {
        var policy = new ScalingPolicy { TargetQueueLength = 1, ActivationQueueLength = 3, TargetMessageRate = 50, ActivationMessageRate = 1,
                                         MaxReplicas = 1, PollingIntervalSeconds = 1, CooldownSeconds = 10, StartupSeconds = 5 };
        var standby = new StandbyCpu { FloorSeconds = 0.1, TokensPerSecond = 320, PricePerHour = 1 };
        var r = ElasticSimulation.Run([new(0, 320, 1), new(0.5, 320, 2), new(100, 320, 3)],
            new SimulationOptions { Policy = policy, Latency = Gpu, Standby = standby });

        // The second request waits for the first (0.6 s), then takes its own 1.1 s.
        Assert.Equal([1.1, 1.7, 1.1], r.Latencies.Select(x => Math.Round(x, 9)));
        Assert.Equal(3, r.StandbyServed);
        Assert.Equal(0, r.ColdStarts);
        Assert.Equal(0, r.GpuSeconds, 9);
        Assert.Equal(24, r.Cost(pricePerGpuHour: 3), 6);  // 24 CPU-hours at $1, no GPU-hours
    }

    /// <summary>With a GPU consuming, the CPU standby (lower consumer priority) gets nothing.</summary>
    [Fact]
    public void A_cpu_standby_gets_no_message_while_a_gpu_replica_consumes()
    {
        var r = ElasticSimulation.Run([new(0, 100, 1), new(0, 100, 2)],
            new SimulationOptions { FixedReplicas = 1, Latency = Gpu, MaxBatchTokens = 100, Standby = new StandbyCpu() });

        Assert.Equal(0, r.StandbyServed);
        Assert.Equal([0.01, 0.02], r.Latencies.Select(x => Math.Round(x, 9)));
    }

    [Fact]
    public void Repeated_texts_are_answered_by_the_cache_without_gpu_time()
    {
        var r = ElasticSimulation.Run([new(0, 100, 7), new(1, 100, 7)], new SimulationOptions { FixedReplicas = 1, Latency = Gpu });

        Assert.Equal(1, r.CacheHits);
        Assert.Equal(1, r.GpuServed);
        Assert.Equal(200, r.TokensServed);
        Assert.Equal(100, r.GpuTokens);
        var uncached = ElasticSimulation.Run([new(0, 100, 7), new(1, 100, 7)], new SimulationOptions { FixedReplicas = 1, Latency = Gpu, Cache = false });
        Assert.Equal(2, uncached.GpuServed);
    }

    [Fact]
    public void Requests_waiting_past_the_api_timeout_get_503_and_none_is_left_unaccounted()
    {
        var policy = new ScalingPolicy { TargetQueueLength = 1, MaxReplicas = 1, PollingIntervalSeconds = 1, CooldownSeconds = 120, StartupSeconds = 120 };
        var r = ElasticSimulation.Run([new(0.5, 100, 1), new(100, 100, 2)],
            new SimulationOptions { Policy = policy, ColdStartSeconds = 90, Latency = Gpu, RequestTimeoutSeconds = 60 });

        Assert.Equal(1, r.TimedOut);   // waited from 0.5 s past 60.5 s: the API answered 503, the message expired
        Assert.Equal(1, r.GpuServed);  // the second arrives at 100 s; the replica (asked for at 1 s) has been ready since 91 s
        Assert.Equal(0, r.Unserved);
        Assert.Equal(2, r.Requests);
        Assert.Equal(1, r.ColdStarts);
    }

    [Fact]
    public void The_generated_day_is_reproducible_and_has_the_load_it_promises()
    {
        var options = new DiurnalTraceOptions { MeanTokensPerSecond = 500, RepeatRatio = 0.3 };
        var a = DiurnalTrace.Generate(options);
        var b = DiurnalTrace.Generate(options);

        Assert.Equal(a, b);
        Assert.InRange(a.Sum(r => (double)r.Tokens) / options.DaySeconds, 450, 550);
        var repeats = a.Count - a.Select(r => r.TextId).Distinct().Count();
        Assert.InRange(repeats / (double)a.Count, 0.27, 0.33);
        var night = a.Count(r => r.Arrival < 5 * 3600);
        var morning = a.Count(r => r.Arrival >= 10 * 3600 && r.Arrival < 11 * 3600);
        Assert.True(night < morning / 20.0, $"night {night} vs one morning hour {morning}");
    }

    [Fact]
    public void The_office_day_carries_its_load_within_office_hours()
    {
        var options = DiurnalTraceOptions.OfficeDay with { MeanTokensPerSecond = 500 };
        var day = DiurnalTrace.Generate(options);

        Assert.InRange(day.Sum(r => (double)r.Tokens) / options.DaySeconds, 450, 550);
        var office = day.Count(r => r.Arrival >= 8 * 3600 && r.Arrival < 18 * 3600);
        Assert.True(office > 0.995 * day.Count, $"{day.Count - office} of {day.Count} requests outside 08:00-18:00");
        var lunch = day.Count(r => r.Arrival >= 12.5 * 3600 && r.Arrival < 13 * 3600);
        var morning = day.Count(r => r.Arrival >= 10.25 * 3600 && r.Arrival < 10.75 * 3600);
        Assert.True(lunch < 0.8 * morning, $"lunch {lunch} vs morning {morning}");
    }

    [Fact]
    public void The_trickle_day_is_steady_all_day_and_night_with_bursts_at_any_hour()
    {
        var day = DiurnalTrace.Generate(DiurnalTraceOptions.TrickleDay);

        var perHour = Enumerable.Range(0, 24).Select(h => day.Count(r => r.Arrival >= h * 3600 && r.Arrival < (h + 1) * 3600)).ToArray();
        Assert.All(perHour, n => Assert.InRange(n / 3600.0, 0.9, 4));  // about 1-2 requests/s in every hour, night included
        Assert.InRange(day.Count / 86_400.0, 1, 2.5);
        var busiestMinute = day.GroupBy(r => (int)(r.Arrival / 60)).Max(g => g.Count());
        Assert.True(busiestMinute > 5 * day.Count / 1440.0, $"a burst minute has {busiestMinute} requests");
        var burstHours = day.GroupBy(r => (int)(r.Arrival / 60)).Where(g => g.Count() > 4 * day.Count / 1440.0).Select(g => g.Key / 60).Distinct().ToList();
        Assert.Contains(burstHours, h => h < 8 || h >= 18);  // not only in office hours
    }

    [Fact]
    public void The_azure_llm_trace_converts_to_arrivals_and_prompt_sizes()
    {
        string[] csv =
        [
            "TIMESTAMP,ContextTokens,GeneratedTokens",
            "2023-11-16 18:15:46.6805900,374,44",
            "2023-11-16 18:15:50.9951690,396,109",
            "2023-11-16 18:15:50.9951690,40000,5",  // same instant; over the model's context
            "2023-11-16 18:16:46,12,1",
        ];
        var trace = AzureLlmTrace.Convert(csv);

        Assert.Equal([0, 4.314579, 4.314579, 59.31941], trace.Select(r => Math.Round(r.Arrival, 6)));
        Assert.Equal([374, 396, 32_768, 12], trace.Select(r => r.Tokens));
        Assert.Equal(4, trace.Select(r => r.TextId).Distinct().Count());  // no invented repeats
    }

    /// <summary>
    /// A card with half the H100's tensor TFLOPS and half its bandwidth: half the peak, and the floor pays the weights'
    /// read a second time (7.7 GiB at 3,350 GB/s = 2.468 ms). Without bf16 (fp32) the rate halves and the weights double.
    /// </summary>
    [Fact]
    public void A_gpu_type_scales_the_measured_latency_model_by_tflops_and_bandwidth()
    {
        var reference = new GpuLatencyModel(FloorMilliseconds: 8.6, PeakTokensPerSecond: 48_000);
        var read = GpuType.Weights4BGiB * (1L << 30) / 3_350e9 * 1000;
        var half = new GpuType(new GpuCard("half", "", null, Bf16: true), 1, 989 / 2.0, 3_350 / 2.0, 80, "");
        var m = half.LatencyFrom(reference);
        Assert.Equal(24_000, m.PeakTokensPerSecond, 6);
        Assert.Equal(8.6 + read, m.FloorMilliseconds, 6);

        var fp32 = half with { DenseTflops = 989, BandwidthGBs = 3_350, Card = half.Card with { Bf16 = false } };
        Assert.Equal(24_000, fp32.LatencyFrom(reference).PeakTokensPerSecond, 6);
        Assert.Equal(8.6 + read, fp32.LatencyFrom(reference).FloorMilliseconds, 6);

        Assert.False(GpuType.Named("T4").Fits(GpuType.Weights4BGiB));  // 15.4 GiB of fp32 weights in 16 GB
        Assert.True(GpuType.Named("T4").Fits(1.1));                     // the 0.6B does
        Assert.True(GpuType.Named("L4").Fits(GpuType.Weights4BGiB));
        Assert.Equal(reference, GpuType.Named("H100").LatencyFrom(reference));
    }

    /// <summary>
    /// Three 100-token requests at once, one per forward (budget 100 tokens, 10 ms each on a card as fast as the
    /// reference): one replica answers at 10, 20, 30 ms (p95 30 ms), two at 10, 10, 20 ms. With a 25 ms goal the smallest
    /// fixed fleet is 2 replicas, billed for the trace's hour at the card's price.
    /// </summary>
    [Fact]
    public void Ranking_finds_the_smallest_fixed_fleet_within_the_goal_and_prices_it()
    {
        var card = new GpuType(new GpuCard("ref", "", null, Bf16: true), 2.5, 989, 3_350, 80, "");
        TraceRequest[] trace = [new(0, 100, 1), new(0, 100, 2), new(0, 100, 3)];
        var options = new SimulationOptions { Latency = Gpu, MaxBatchTokens = 100, BilledSeconds = 3600, ColdStartSeconds = 1 };
        var ranked = Ranking.Run(trace, options, new ScalingPolicy(), new ScalingPolicy(), p95GoalSeconds: 0.025, [card]);

        var fixedFleet = Assert.Single(ranked, r => r.Setup.FixedReplicas is not null);
        Assert.Equal(2, fixedFleet.Setup.FixedReplicas);
        Assert.True(fixedFleet.MeetsGoal);
        Assert.Equal(2 * 2.5, fixedFleet.Cost, 9);
        Assert.Equal([0.01, 0.01, 0.02], fixedFleet.Result.Latencies.Order().Select(x => Math.Round(x, 9)));
        // Elastic setups: each with its own floor, and the cost in dollars of GPU and standby together.
        Assert.All(ranked.Where(r => r.Setup.FixedReplicas is null), r => Assert.NotNull(r.FloorCost));
        Assert.Contains(ranked, r => r.Setup.Standby is { Replicas: 2 } && r.Result.StandbyCost > 0);
    }

    [Fact]
    public void The_winner_prints_as_the_tier_block_it_corresponds_to()
    {
        var tier = System.Text.Json.Nodes.JsonNode.Parse("""{ "Name": "t", "Backend": "SGLang", "Scaling": { "CooldownSeconds": 300 } }""")!.AsObject();
        var policy = Ranking.ForSpeed(new ScalingPolicy { TargetMessageRate = 60, MaxReplicas = 3 }, speed: 0.25);
        Assert.Equal((15, 12), (policy.TargetMessageRate, policy.MaxReplicas));  // a quarter of the speed: a quarter of the rate, four times the replicas

        var winner = new RankedSetup(new Setup(GpuType.Named("L4"), null, new StandbyCpu(), policy), new SimulationResult(), 1, 1, true);
        var block = Ranking.TierBlock(tier, winner);
        Assert.Equal("L4", block["Gpu"]!.GetValue<string>());
        Assert.Equal(1, block["Standby"]!["Replicas"]!.GetValue<int>());
        Assert.Equal(300, block["Scaling"]!["CooldownSeconds"]!.GetValue<int>());
        Assert.Equal(12, block["Scaling"]!["MaxReplicas"]!.GetValue<int>());
        Assert.Equal(15, block["Scaling"]!["TargetMessageRate"]!.GetValue<double>());
        Assert.Null(tier["Gpu"]);  // the original is left alone
        Assert.NotNull(block["Standby"]!["HubRepository"]);  // no export of its own: the block says one is needed
        tier["HubRepository"] = "org/model-onnx";
        Assert.Null(Ranking.TierBlock(tier, winner)["Standby"]!["HubRepository"]);  // the tier's own export serves the standby
    }
}
