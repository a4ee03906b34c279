using Embedding.Contracts;

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
}

public sealed class SimulationResult
{
    public long Requests { get; set; }
    public long CacheHits { get; set; }
    public long GpuServed { get; set; }
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

    /// <summary>Seconds from arrival to answer for every request the GPU served; and only those that found a replica ready.</summary>
    public List<double> Latencies { get; } = [];
    public List<double> WarmLatencies { get; } = [];

    /// <summary>(time, replicas billed) at every change.</summary>
    public List<(double Time, int Replicas)> Replicas { get; } = [];

    public double GpuHours => GpuSeconds / 3600;
    public double Utilisation => GpuSeconds == 0 ? 0 : BusySeconds / GpuSeconds;
    public double Cost(double pricePerGpuHour) => GpuHours * pricePerGpuHour;

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
    private sealed class Replica(double created, double readyAt)
    {
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
        var coldArrival = new bool[trace.Count];
        var cached = new HashSet<long>();
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
                replicas.Remove(r);
                result.Replicas.Add((t, replicas.Count));
            }
        }

        while (true)
        {
            // 1. Batches that finish now answer their requests (and fill the cache).
            foreach (var r in replicas.Where(r => r.Batch is not null && r.BusyUntil <= t))
            {
                foreach (var i in r.Batch!)
                {
                    var latency = r.BusyUntil - trace[i].Arrival;
                    result.Latencies.Add(latency);
                    if (!coldArrival[i]) result.WarmLatencies.Add(latency);
                    result.GpuServed++;
                    cached.Add(trace[i].TextId);
                }
                r.Batch = null;
            }
            LeaveWhenDrained();

            // 2. Arrivals: cache hits are answered at once; the rest wait on the queue.
            for (; next < trace.Count && trace[next].Arrival <= t; next++)
            {
                result.Requests++;
                result.TokensServed += trace[next].Tokens;
                if (o.Cache && cached.Contains(trace[next].TextId)) { result.CacheHits++; continue; }
                coldArrival[next] = !replicas.Any(r => !r.Stopping && r.ReadyAt <= t);
                if (coldArrival[next]) result.WaitedOnColdStart++;
                queue.Enqueue(next);
            }

            // Requests queued past the API's timeout were answered 503 + Retry-After; their messages expire (time-to-live).
            while (queue.Count > 0 && t - trace[queue.Peek()].Arrival > o.RequestTimeoutSeconds)
            {
                queue.Dequeue();
                result.TimedOut++;
            }

            // 3. The autoscaler's poll: the real policy decides, replicas are started (cold) or drained.
            if (elastic && t >= nextTick)
            {
                nextTick = t + policy.PollingIntervalSeconds;
                var depth = queue.Count + replicas.Sum(r => r.Batch?.Count ?? 0);
                var active = replicas.Where(r => !r.Stopping).ToList();
                var starting = active.Count(r => r.ReadyAt > t);
                var desired = policy.Decide(depth, active.Count, starting, needs, t);
                for (var i = active.Count; i < desired; i++)
                {
                    replicas.Add(new Replica(t, t + o.ColdStartSeconds));
                    result.ColdStarts++;
                }
                if (desired > active.Count) result.Replicas.Add((t, replicas.Count));
                // Scale-in takes the newest ready replicas first; the policy never removes one that is starting.
                foreach (var r in active.Where(r => r.ReadyAt <= t).OrderByDescending(r => r.Created).Take(Math.Max(0, active.Count - desired)))
                    r.Stopping = true;
                LeaveWhenDrained();
            }

            // 4. Free, ready replicas take the next batch: requests in arrival order up to the token budget.
            foreach (var r in replicas.Where(r => !r.Stopping && r.Batch is null && r.ReadyAt <= t))
            {
                if (queue.Count == 0) break;
                var batch = new List<int>();
                long tokens = 0;
                var longest = 0;
                while (queue.Count > 0 && (batch.Count == 0 || tokens + trace[queue.Peek()].Tokens <= o.MaxBatchTokens))
                {
                    var i = queue.Dequeue();
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

            // 5. Done when the trace is over, nothing waits, and (elastic) every replica has gone.
            var idle = next == trace.Count && queue.Count == 0 && replicas.All(r => r.Batch is null);
            if (idle && (!elastic || replicas.Count == 0)) break;

            // Jump to the next event.
            var nextT = double.PositiveInfinity;
            if (next < trace.Count) nextT = trace[next].Arrival;
            if (elastic) nextT = Math.Min(nextT, nextTick);
            foreach (var r in replicas)
            {
                if (r.ReadyAt > t) nextT = Math.Min(nextT, r.ReadyAt);
                if (r.Batch is not null) nextT = Math.Min(nextT, r.BusyUntil);
            }
            if (double.IsPositiveInfinity(nextT)) break;
            t = Math.Max(t, nextT);
        }

        result.EndSeconds = t;
        result.Unserved = queue.Count;
        if (!elastic) result.GpuSeconds = replicas.Count * Math.Max(o.BilledSeconds, t);
        else foreach (var r in replicas) result.GpuSeconds += t - r.Created;
        return result;
    }
}
