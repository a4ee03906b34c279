using Embedding.Scaling;

namespace Embedding.Simulator;

public sealed record SimulationOptions
{
    /// <summary>The autoscaler's policy (the AppHost's, for the tier simulated). Ignored with <see cref="FixedReplicas"/>.</summary>
    public ScalingPolicy Policy { get; init; } = new();

    /// <summary>Set for "fixed N replicas all day"; null for elastic scaling by <see cref="Policy"/>.</summary>
    public int? FixedReplicas { get; init; }

    /// <summary>From "start a replica" to "it serves": container start plus model load. Billed, like any GPU time.</summary>
    public double ColdStartSeconds { get; init; } = 45;

    public GpuLatencyModel Latency { get; init; } = new();

    /// <summary>Tokens per forward pass: a replica takes queued requests up to this budget whenever it is free.</summary>
    public int MaxBatchTokens { get; init; } = 8192;

    /// <summary>Exact-match cache: a text served once is answered from the cache afterwards, without GPU time.</summary>
    public bool Cache { get; init; } = true;

    /// <summary>Fixed replicas are billed at least for this long (the day).</summary>
    public double BilledSeconds { get; init; } = 86_400;

    /// <summary>Requests that wait longer than this would get 503 + Retry-After from the API (and be retried).</summary>
    public double RequestTimeoutSeconds { get; init; } = 60;

    /// <summary>Always-on CPU replicas of the same model (so the same vectors) on the same queue; null = none.</summary>
    public StandbyCpu? Standby { get; init; }

    /// <summary>The publish rate the rate trigger sees: messages over this window (RabbitMQ's statistics cover a few seconds).</summary>
    public double RateWindowSeconds { get; init; } = 10;

    /// <summary>
    /// Bulk jobs' requests (<see cref="TraceRequest.Job"/> >= 0) submitted as batch jobs, as the API's batch runner runs
    /// them: all there when the job's first request arrives, released at the queue's lower priority with
    /// <see cref="JobWindowPerReplica"/> in flight per ready GPU replica, served only when no interactive request waits.
    /// Their wait is not a user's: they are not in the latencies; each job's start and end are.
    /// </summary>
    public bool JobsAsBatches { get; init; }

    /// <summary>
    /// A lower bound, not a policy: replicas are ready the moment the policy asks for them, as if started
    /// <see cref="ColdStartSeconds"/> earlier by an autoscaler that knew the future (and billed from then). No request
    /// waits for a model to load, so only the GPU-hours any policy must pay with this cold start remain.
    /// </summary>
    public bool Clairvoyant { get; init; }
    public int JobWindowPerReplica { get; init; } = 8;
}

/// <summary>
/// A CPU replica that serves the tier's own model while no GPU replica consumes: it subscribes with a lower consumer
/// priority, so RabbitMQ hands it messages only when no GPU consumer can take them. One request at a time, at the speed
/// measured for the 4B architecture on 16 CPU cores (bench/results/cpu-4b-*.json: ~320 tokens/s in bf16, ~0.15 s floor).
/// </summary>
public sealed record StandbyCpu
{
    public int Replicas { get; init; } = 1;
    public double FloorSeconds { get; init; } = 0.15;
    public double TokensPerSecond { get; init; } = 320;
    /// <summary>A 16-vCPU on-demand instance, roughly.</summary>
    public double PricePerHour { get; init; } = 0.68;
    public double ForwardSeconds(long tokens) => FloorSeconds + tokens / TokensPerSecond;

    /// <summary>
    /// A quarter of the measured machine: 4 vCPUs, a quarter of the throughput (CPU inference scales about with cores at
    /// these sizes) and of the price. Enough for a night's trickle, not for a day's.
    /// </summary>
    public static StandbyCpu Small => new() { TokensPerSecond = 80, FloorSeconds = 0.3, PricePerHour = 0.17 };

    public string Describe => $"{Replicas} x {(PricePerHour < 0.68 ? "4" : "16")}-vCPU";
}

public sealed class SimulationResult
{
    public long Requests { get; set; }
    public long CacheHits { get; set; }
    public long GpuServed { get; set; }
    public long StandbyServed { get; set; }
    public double StandbySeconds { get; set; }
    public double StandbyPricePerHour { get; set; }
    public long TokensServed { get; set; }
    public long GpuTokens { get; set; }
    public double GpuSeconds { get; set; }
    public double BusySeconds { get; set; }
    public int ColdStarts { get; set; }
    public long WaitedOnColdStart { get; set; }
    /// <summary>Requests that waited on the queue past the API's timeout: answered 503 + Retry-After (the client retries), never served.</summary>
    public long TimedOut { get; set; }
    public long Unserved { get; set; }
    public double EndSeconds { get; set; }

    /// <summary>Seconds from arrival to answer for every request served; and only those that did not wait for a replica's cold start.</summary>
    public List<double> Latencies { get; } = [];
    public List<double> WarmLatencies { get; } = [];

    /// <summary>(time, replicas billed) at every change.</summary>
    public List<(double Time, int Replicas)> Replicas { get; } = [];

    /// <summary>With <see cref="SimulationOptions.JobsAsBatches"/>: each job's submission and last answer.</summary>
    public Dictionary<int, (double Start, double End)> Jobs { get; } = [];

    public double GpuHours => GpuSeconds / 3600;

    /// <summary>GPU time billed while replicas started (cold starts) and while they sat idle before leaving (scale-in window).</summary>
    public double ColdStartBilledSeconds { get; set; }
    public double IdleBeforeLeavingSeconds { get; set; }
    public double Utilisation => GpuSeconds == 0 ? 0 : BusySeconds / GpuSeconds;
    /// <summary>GPU-hours at the given price, plus the CPU standby's hours at its own.</summary>
    public double Cost(double pricePerGpuHour) => GpuHours * pricePerGpuHour + StandbyCost;

    /// <summary>The CPU standby's hours at its own price.</summary>
    public double StandbyCost => StandbySeconds / 3600 * StandbyPricePerHour;

    /// <summary>Cost per million tokens served (cache hits included: the user gets those tokens too).</summary>
    public double CostPerMillionTokens(double pricePerGpuHour) => TokensServed == 0 ? 0 : Cost(pricePerGpuHour) / (TokensServed / 1e6);

    public static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Order().ToList();
        return sorted[(int)Math.Clamp(Math.Ceiling(p / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }
}

/// <summary>
/// Replays a trace, event by event, through replicas that batch by a token budget and take as long as the GPU latency
/// model says, started and stopped by the real <see cref="ScalingPolicy"/> polling the queue as the autoscalers do
/// (depth = queued + in service, sampled every polling interval). A replica is billed from the moment it is asked for
/// (cold start included) until it has drained and stopped.
/// </summary>
public static class ElasticSimulation
{
    private sealed class Replica(double created, double readyAt, bool cpu = false)
    {
        public bool Cpu { get; } = cpu;
        public double Created { get; } = created;
        public double ReadyAt { get; } = readyAt;
        public double BusyUntil { get; set; }
        public List<int>? Batch { get; set; }
        public bool Stopping { get; set; }
    }

    public static SimulationResult Run(IReadOnlyList<TraceRequest> trace, SimulationOptions o)
    {
        var result = new SimulationResult();
        var replicas = new List<Replica>();
        var queue = new Queue<int>();
        // Batch jobs: requests not yet released (per job, in order), released ones waiting at the lower priority.
        var backlog = new Dictionary<int, Queue<int>>();
        var activeJobs = new List<int>();
        var jobQueue = new Queue<int>();
        var jobInFlight = 0;
        if (o.JobsAsBatches)
            for (var i = 0; i < trace.Count; i++)
                if (trace[i].Job >= 0)
                {
                    if (!backlog.TryGetValue(trace[i].Job, out var pending)) backlog[trace[i].Job] = pending = new Queue<int>();
                    pending.Enqueue(i);
                }
        bool IsJob(int i) => o.JobsAsBatches && trace[i].Job >= 0;
        void JobAnswered(int i, double at) => result.Jobs[trace[i].Job] = (result.Jobs[trace[i].Job].Start, Math.Max(result.Jobs[trace[i].Job].End, at));
        var standby = Enumerable.Range(0, o.Standby?.Replicas ?? 0).Select(_ => new Replica(0, 0, cpu: true)).ToList();
        var published = new Queue<double>();  // when cache misses were sent to the queue, for the publish rate
        var cached = new HashSet<long>();
        // A request reaches the API: a cache hit is answered at once (false); a miss waits on the queue and is published.
        bool Admit(int i, Queue<int> into, double at)
        {
            result.Requests++;
            result.TokensServed += trace[i].Tokens;
            if (o.Cache && cached.Contains(trace[i].TextId)) { result.CacheHits++; return false; }
            into.Enqueue(i);
            published.Enqueue(at);
            return true;
        }
        var policy = o.Policy;
        var elastic = o.FixedReplicas is null;
        for (var i = 0; i < (o.FixedReplicas ?? 0); i++) replicas.Add(new Replica(0, 0));
        result.Replicas.Add((0, replicas.Count));

        var t = 0.0;
        var next = 0;
        var nextTick = 0.0;
        var needs = new ReplicaNeeds();

        // Replicas told to stop leave once they have drained their batch: billing ends then.
        void LeaveWhenDrained()
        {
            foreach (var r in replicas.Where(r => r.Stopping && r.Batch is null).ToList())
            {
                result.GpuSeconds += t - r.Created;
                // Billed while idle before leaving: the scale-in window's price (from its last batch, or from ready).
                result.IdleBeforeLeavingSeconds += t - Math.Max(r.ReadyAt, r.BusyUntil);
                replicas.Remove(r);
                result.Replicas.Add((t, replicas.Count));
            }
        }

        while (true)
        {
            // 1. Batches that finish now answer their requests (and fill the cache).
            foreach (var r in replicas.Concat(standby).Where(r => r.Batch is not null && r.BusyUntil <= t))
            {
                foreach (var i in r.Batch!)
                {
                    if (r.Cpu) result.StandbyServed++; else result.GpuServed++;
                    cached.Add(trace[i].TextId);
                    if (IsJob(i))
                    {
                        jobInFlight--;
                        JobAnswered(i, r.BusyUntil);
                        continue;
                    }
                    var latency = r.BusyUntil - trace[i].Arrival;
                    result.Latencies.Add(latency);
                    // It waited for a cold start if the replica serving it was still starting when it arrived.
                    if (r.ReadyAt > trace[i].Arrival) result.WaitedOnColdStart++;
                    else result.WarmLatencies.Add(latency);
                }
                r.Batch = null;
            }
            LeaveWhenDrained();

            // 2. Arrivals: cache hits are answered at once; the rest wait on the queue.
            for (; next < trace.Count && trace[next].Arrival <= t; next++)
            {
                if (IsJob(next))
                {
                    // A job's first request marks its submission; the runner below releases its requests.
                    if (result.Jobs.TryAdd(trace[next].Job, (trace[next].Arrival, trace[next].Arrival))) activeJobs.Add(trace[next].Job);
                    continue;
                }
                Admit(next, queue, trace[next].Arrival);
            }

            // Requests queued past the API's timeout were answered 503 + Retry-After; their messages expire (time-to-live).
            while (queue.Count > 0 && t - trace[queue.Peek()].Arrival > o.RequestTimeoutSeconds)
            {
                queue.Dequeue();
                result.TimedOut++;
            }

            // The batch runner keeps its window full: JobWindowPerReplica lines per ready replica (at least one's worth).
            if (activeJobs.Count > 0)
            {
                var window = o.JobWindowPerReplica * Math.Max(1, replicas.Count(r => !r.Stopping && r.ReadyAt <= t));
                foreach (var job in activeJobs.ToList())
                {
                    var pending = backlog[job];
                    while (pending.Count > 0 && jobInFlight < window)
                    {
                        var i = pending.Dequeue();
                        if (Admit(i, jobQueue, t)) jobInFlight++;
                        else JobAnswered(i, t);
                    }
                    if (pending.Count == 0) activeJobs.Remove(job);
                }
            }

            // 3. The autoscaler's poll: the real policy decides, replicas are started (cold) or drained.
            if (elastic && t >= nextTick)
            {
                nextTick = t + policy.PollingIntervalSeconds;
                var depth = queue.Count + jobQueue.Count + replicas.Concat(standby).Sum(r => r.Batch?.Count ?? 0);
                while (published.Count > 0 && published.Peek() < t - o.RateWindowSeconds) published.Dequeue();
                var rate = published.Count / o.RateWindowSeconds;
                var active = replicas.Where(r => !r.Stopping).ToList();
                var starting = active.Count(r => r.ReadyAt > t);
                var desired = policy.Decide(depth, active.Count, starting, needs, t, rate);
                for (var i = active.Count; i < desired; i++)
                {
                    replicas.Add(o.Clairvoyant ? new Replica(t - o.ColdStartSeconds, t - o.ColdStartSeconds) : new Replica(t, t + o.ColdStartSeconds));
                    result.ColdStarts++;
                }
                if (desired > active.Count) result.Replicas.Add((t, replicas.Count));
                // Scale-in takes the newest ready replicas first; the policy never removes one that is starting.
                foreach (var r in active.Where(r => r.ReadyAt <= t).OrderByDescending(r => r.Created).Take(Math.Max(0, active.Count - desired)))
                    r.Stopping = true;
                LeaveWhenDrained();
            }

            // 4. Free, ready replicas take the next batch: requests in arrival order up to the token budget; interactive
            //    ones first, and a batch holds one priority (as the worker's batcher forms them).
            foreach (var r in replicas.Where(r => !r.Stopping && r.Batch is null && r.ReadyAt <= t))
            {
                var source = queue.Count > 0 ? queue : jobQueue;
                if (source.Count == 0) break;
                var batch = new List<int>();
                long tokens = 0;
                var longest = 0;
                while (source.Count > 0 && (batch.Count == 0 || tokens + trace[source.Peek()].Tokens <= o.MaxBatchTokens))
                {
                    var i = source.Dequeue();
                    batch.Add(i);
                    tokens += trace[i].Tokens;
                    longest = Math.Max(longest, trace[i].Tokens);
                }
                var seconds = o.Latency.ForwardSeconds(tokens, longest);
                r.Batch = batch;
                r.BusyUntil = t + seconds;
                result.BusySeconds += seconds;
                result.GpuTokens += tokens;
            }
            // Consumer priority: the CPU standby gets a message only while no GPU replica is consuming; one at a time.
            if (!replicas.Any(r => !r.Stopping && r.ReadyAt <= t))
            {
                foreach (var r in standby.Where(r => r.Batch is null))
                {
                    var source = queue.Count > 0 ? queue : jobQueue;
                    if (source.Count == 0) break;
                    var i = source.Dequeue();
                    r.Batch = [i];
                    r.BusyUntil = t + o.Standby!.ForwardSeconds(trace[i].Tokens);
                }
            }

            // 5. Done when the trace is over, nothing waits, and (elastic) every replica has gone.
            var idle = next == trace.Count && queue.Count == 0 && jobQueue.Count == 0 && activeJobs.Count == 0 && replicas.Concat(standby).All(r => r.Batch is null);
            if (idle && (!elastic || replicas.Count == 0)) break;

            // Jump to the next event.
            var nextT = double.PositiveInfinity;
            if (next < trace.Count) nextT = trace[next].Arrival;
            if (elastic) nextT = Math.Min(nextT, nextTick);
            foreach (var r in replicas.Concat(standby))
            {
                if (r.ReadyAt > t) nextT = Math.Min(nextT, r.ReadyAt);
                if (r.Batch is not null) nextT = Math.Min(nextT, r.BusyUntil);
            }
            if (double.IsPositiveInfinity(nextT)) break;
            t = Math.Max(t, nextT);
        }

        result.EndSeconds = t;
        result.Unserved = queue.Count + jobQueue.Count + activeJobs.Sum(j => backlog[j].Count);
        if (!elastic) result.GpuSeconds = replicas.Count * Math.Max(o.BilledSeconds, t);
        else foreach (var r in replicas)
        {
            result.GpuSeconds += t - r.Created;
            result.IdleBeforeLeavingSeconds += t - Math.Max(r.ReadyAt, r.BusyUntil);
        }
        result.ColdStartBilledSeconds = elastic ? result.ColdStarts * o.ColdStartSeconds : 0;
        result.StandbySeconds = standby.Count * Math.Max(o.BilledSeconds, t);
        result.StandbyPricePerHour = o.Standby?.PricePerHour ?? 0;
        return result;
    }
}
