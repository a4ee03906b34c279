using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Embedding.Api.Services;

namespace Embedding.Api.Batches;

/// <summary>
/// Batch jobs' instruments, on the API's meter: lines answered and sent again, jobs finished, and gauges over the jobs
/// this instance runs now (their lines in flight and still ahead).
/// </summary>
public sealed class BatchMetrics
{
    private readonly Counter<long> _requests;
    private readonly Counter<long> _jobs;
    private readonly Counter<long> _retries;
    private readonly ConcurrentDictionary<string, BatchJob> _running = new();

    public BatchMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(ApiMetrics.Name);
        _requests = meter.CreateCounter<long>("embedding.batch_job.requests", "{request}",
            "Batch-job lines answered, by outcome (completed: in the output file; failed: in the error file) and model");
        _jobs = meter.CreateCounter<long>("embedding.batch_jobs", "{job}", "Batch jobs that reached a final state, by embedding.batch_job.status");
        _retries = meter.CreateCounter<long>("embedding.batch_job.retries", "{request}",
            "Batch lines sent again because no worker answered in time (a tier at zero and starting, a broker outage)");
        meter.CreateObservableGauge("embedding.batch_jobs.running", () => _running.Count, "{job}", "Batch jobs this API instance is running now");
        meter.CreateObservableGauge("embedding.batch_job.requests.in_flight", () => _running.Values.Sum(j => (long)j.InFlight), "{request}",
            "Lines of running batch jobs on their way to the workers now (the jobs' window: wider while a tier has more workers)");
        meter.CreateObservableGauge("embedding.batch_job.requests.remaining", () => _running.Values.Sum(j => (long)j.Remaining), "{request}",
            "Lines of running batch jobs not yet answered (the work the batch tier still has ahead)");
    }

    public void JobRunning(BatchJob job) => _running[job.Id] = job;

    public void JobStopped(BatchJob job) => _running.TryRemove(job.Id, out _);

    public void JobFinished(string status) => _jobs.Add(1, new KeyValuePair<string, object?>("embedding.batch_job.status", status));

    public void Retry(string model) => _retries.Add(1, new KeyValuePair<string, object?>("embedding.model", model));

    public void LineAnswered(string? model, bool succeeded) =>
        _requests.Add(1, new("outcome", succeeded ? "completed" : "failed"), new("embedding.model", model ?? "unknown"));
}
