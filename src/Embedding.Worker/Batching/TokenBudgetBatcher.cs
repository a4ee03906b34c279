using System.Diagnostics;
using System.Threading.Channels;
using Embedding.Contracts;
using Embedding.Worker.Backends;
using Microsoft.Extensions.Options;

namespace Embedding.Worker.Batching;

/// <summary>
/// Collects texts from every message the worker holds into batches and runs them on the backend, continuously:
/// with no batch running, a batch runs at once with what is there (an idle worker never holds a lone request back);
/// while batches run, texts pile up and the next batch takes them all. A batch closes when the next text would exceed
/// the token budget (padded tokens when the backend pads), when it holds MaxBatchSize texts, or, where a batch is
/// already running and a slot is free (MaxConcurrentBatches above 1), when its oldest text has waited MaxWait. When the
/// backend pads, a batch starts from the oldest waiting text and takes the waiting texts closest to it in length (among
/// the next few hundred), closing before padding would exceed MaxPaddingShare of it: mixed lengths waste compute on pads.
/// Texts whose caller has gone away are dropped here, never computed. Interactive texts go first: a batch holds texts
/// of one priority, and a batch-job batch stops filling as soon as an interactive text arrives, so a request waits at
/// most for the batch already running, never behind the job texts this worker holds. A batch answered with unusable
/// vectors, or refused by the engine (a 4xx), is embedded text by text: only the request owning the bad text fails.
/// </summary>
public sealed class TokenBudgetBatcher : BackgroundService
{
    private readonly IEmbeddingBackend _backend;
    private readonly WorkerOptions _options;
    private readonly WorkerMetrics _metrics;
    private readonly ILogger<TokenBudgetBatcher> _logger;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new() { SingleReader = true });
    private readonly SemaphoreSlim _slots;
    private readonly LinkedList<Pending> _interactive = new(), _background = new();  // arrival order; read side only (the batching loop)
    private const int PaddingScan = 256;  // how far into a queue a padded batch looks for texts of a similar length
    private long _pending;  // texts accepted and not yet answered
    private readonly string _instance = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray(), 0, 4);  // batch ids differ across replicas
    private long _batches;
    private int _running;  // batches on the backend now
    private long _onBackend;  // texts in those batches

    public TokenBudgetBatcher(IEmbeddingBackend backend, IOptions<WorkerOptions> options, WorkerMetrics metrics, ILogger<TokenBudgetBatcher> logger)
    {
        _backend = backend;
        _options = options.Value;
        _metrics = metrics;
        _logger = logger;
        _slots = new SemaphoreSlim(_options.MaxConcurrentBatches);
    }

    /// <summary>Batches on the backend now.</summary>
    public int Running => Volatile.Read(ref _running);

    /// <summary>Texts accepted and not yet on the backend (nor answered).</summary>
    public long Waiting => Interlocked.Read(ref _pending) - Interlocked.Read(ref _onBackend);

    /// <summary>Embeds <paramref name="texts"/>; they may share batches with other callers' texts of the same priority.</summary>
    public async Task<float[][]> EmbedAsync(IReadOnlyList<TokenizedText> texts, CancellationToken cancellationToken,
                                            EmbedPriority priority = EmbedPriority.Interactive)
    {
        var pending = new Pending[texts.Count];
        for (var i = 0; i < texts.Count; i++)
        {
            pending[i] = new Pending(texts[i], cancellationToken, Stopwatch.GetTimestamp(), Activity.Current?.Context ?? default,
                                     Background: priority < EmbedPriority.Interactive);
            Interlocked.Increment(ref _pending);
            _ = pending[i].Result.Task.ContinueWith(_ => Interlocked.Decrement(ref _pending), TaskScheduler.Default);
            if (!_queue.Writer.TryWrite(pending[i]))
            {
                pending[i].Result.TrySetCanceled();
                throw new InvalidOperationException("The batcher has stopped.");  // the message goes back to the queue
            }
        }
        _metrics.Queued(texts.Count);
        var result = new float[texts.Count][];
        for (var i = 0; i < pending.Length; i++)
        {
            try { result[i] = await pending[i].Result.Task.WaitAsync(cancellationToken); }
            catch (InputRejectedException refused) { throw refused.At(i); }  // which of the caller's texts the engine refuses
        }
        // The caller's span (the message's consumer) names the batches its texts went into; each batch's span has the same id.
        Activity.Current?.SetTag("embedding.batch.ids", string.Join(',', pending.Select(p => p.BatchId).Distinct()));
        return result;
    }

    /// <summary>
    /// Drains before stopping: a worker being scaled in still answers every text it accepted (the bus may be
    /// stopping its consumers at the same time), until nothing is pending or the host's shutdown time is up.
    /// </summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (Interlocked.Read(ref _pending) > 0) await Task.Delay(20, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            _logger.LogWarning("Shutdown time ran out with {Count} texts unanswered; their messages return to the queue", Interlocked.Read(ref _pending));
        }
        await base.StopAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var reader = _queue.Reader;
        var maxWait = TimeSpan.FromMilliseconds(_options.MaxWaitMilliseconds);
        try
        {
            while (_interactive.Count + _background.Count > 0 || await reader.WaitToReadAsync(stoppingToken))
            {
                await _slots.WaitAsync(stoppingToken);
                var batch = await FormBatchAsync(reader, maxWait, stoppingToken);
                if (batch.Count == 0) { _slots.Release(); continue; }
                Interlocked.Increment(ref _running);
                Interlocked.Add(ref _onBackend, batch.Count);
                _ = RunAsync(batch);  // releases its slot when done
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
        finally
        {
            _queue.Writer.TryComplete();
            Drain(reader);
            foreach (var left in _interactive.Concat(_background)) left.Result.TrySetCanceled(stoppingToken);
        }
    }

    private async Task<List<Pending>> FormBatchAsync(ChannelReader<Pending> reader, TimeSpan maxWait, CancellationToken ct)
    {
        var batch = new List<Pending>();
        int sumTokens = 0, maxTokens = 0, minTokens = int.MaxValue;
        long oldest = 0;
        LinkedList<Pending>? source = null;  // the priority this batch takes its texts from
        while (batch.Count < _options.MaxBatchSize)
        {
            Drain(reader);
            if (batch.Count == 0) source = _interactive.Count > 0 ? _interactive : _background;
            else if (source == _background && _interactive.Count > 0) break;  // interactive texts arrived: they go next
            DropAbandoned(source!);
            if (NextFor(source!, batch.Count, minTokens, maxTokens) is { } node)
            {
                var next = node.Value;
                var tokens = next.Text.TokenCount;
                if (batch.Count > 0 && !Fits(batch.Count, sumTokens, maxTokens, tokens)) break;
                source!.Remove(node);
                if (batch.Count == 0) oldest = next.EnqueuedAt;
                batch.Add(next);
                sumTokens += tokens;
                maxTokens = Math.Max(maxTokens, tokens);
                minTokens = Math.Min(minTokens, tokens);
                continue;
            }
            if (batch.Count == 0) return batch;
            // Nothing running: waiting for company would only add latency; what arrives meanwhile fills the next batch.
            if (Volatile.Read(ref _running) == 0) break;
            var remaining = maxWait - Stopwatch.GetElapsedTime(oldest);
            if (remaining <= TimeSpan.Zero) break;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(remaining);
            try
            {
                if (!await reader.WaitToReadAsync(timeout.Token)) break;
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested) { break; }
        }
        // Arrival order within the batch, whatever order they were picked in.
        return _backend.PadsBatches ? batch.OrderBy(p => p.EnqueuedAt).ToList() : batch;
    }

    /// <summary>Texts whose caller has gone away leave the head of the queue uncomputed.</summary>
    private void DropAbandoned(LinkedList<Pending> source)
    {
        while (source.First is { } head && head.Value.CancellationToken.IsCancellationRequested)
        {
            source.RemoveFirst();
            head.Value.Result.TrySetCanceled(head.Value.CancellationToken);
            _metrics.Dropped(1);
        }
    }

    /// <summary>
    /// The text the batch takes next: the oldest one first; then, where the backend pads, the waiting text (of the next
    /// <see cref="PaddingScan"/>) that widens the batch's length range least (unless padding is not limited); otherwise
    /// the next in arrival order.
    /// </summary>
    private LinkedListNode<Pending>? NextFor(LinkedList<Pending> source, int count, int minTokens, int maxTokens)
    {
        if (count == 0 || !_backend.PadsBatches || _options.MaxPaddingShare >= 1) return source.First;
        LinkedListNode<Pending>? best = null;
        var bestWidening = int.MaxValue;
        var node = source.First;
        for (var scanned = 0; node is not null && scanned < PaddingScan && bestWidening > 0; scanned++, node = node.Next)
        {
            if (node.Value.CancellationToken.IsCancellationRequested) continue;  // dropped when it reaches the head
            var tokens = node.Value.Text.TokenCount;
            var widening = tokens > maxTokens ? tokens - maxTokens : tokens < minTokens ? minTokens - tokens : 0;
            if (widening < bestWidening) (best, bestWidening) = (node, widening);
        }
        return best;
    }

    /// <summary>
    /// Whether one more text of <paramref name="tokens"/> tokens keeps the batch within its token budget (padded tokens
    /// when the backend pads, real ones otherwise) and, when it pads, within its padding share.
    /// </summary>
    private bool Fits(int count, int sumTokens, int maxTokens, int tokens)
    {
        if (!_backend.PadsBatches) return sumTokens + tokens <= _options.MaxBatchTokens;
        var padded = (long)(count + 1) * Math.Max(maxTokens, tokens);
        return padded <= _options.MaxBatchTokens && padded - (sumTokens + tokens) <= _options.MaxPaddingShare * padded;
    }

    /// <summary>Moves what has arrived into the two priority queues, in arrival order.</summary>
    private void Drain(ChannelReader<Pending> reader)
    {
        while (reader.TryRead(out var arrived)) (arrived.Background ? _background : _interactive).AddLast(arrived);
    }

    private async Task RunAsync(List<Pending> batch)
    {
        var tokens = batch.Sum(p => p.Text.TokenCount);
        // A batch serves many requests but a span has one parent: the first request's trace shows the batch
        // (API -> queue -> worker -> backend as one trace); every request it serves is linked.
        using var activity = WorkerMetrics.ActivitySource.StartActivity("embed batch", ActivityKind.Internal, parentContext: batch[0].Parent,
            links: batch.Select(p => p.Parent).Where(p => p != default).Distinct().Select(p => new ActivityLink(p)).Take(128));
        var id = $"{_instance}-{Interlocked.Increment(ref _batches)}";
        activity?.SetTag("embedding.batch.id", id);
        activity?.SetTag("embedding.batch.size", batch.Count);
        activity?.SetTag("embedding.batch.tokens", tokens);
        activity?.SetTag("embedding.batch.wait_ms", Stopwatch.GetElapsedTime(batch.Min(p => p.EnqueuedAt)).TotalMilliseconds);
        activity?.SetTag("embedding.backend", _options.BackendName);
        foreach (var p in batch) p.BatchId = id;
        var started = Stopwatch.GetTimestamp();
        try
        {
            var vectors = await _backend.EmbedAsync(batch.Select(p => p.Text).ToList(), CancellationToken.None);
            var backendTime = Stopwatch.GetElapsedTime(started);
            activity?.SetTag("embedding.backend.duration_ms", backendTime.TotalMilliseconds);
            if (BackendAnswer.Problem(vectors, batch.Count, _backend.Dimensions) is { } problem)
            {
                if (batch.Count == 1) throw new BackendException(problem);
                // One poisoned input (NaN, wrong length) must not fail the requests batched with it: embed each text
                // alone, so only the request that owns the bad one fails. Transport errors are not retried this way.
                _logger.LogWarning("Backend answered a batch of {Count} with unusable vectors ({Problem}); embedding its texts one by one", batch.Count, problem);
                foreach (var pending in batch) await RunAloneAsync(pending);
                return;
            }
            for (var i = 0; i < batch.Count; i++) batch[i].Result.TrySetResult(vectors[i]);
            _metrics.RecordBatch(batch.Count, tokens, backendTime);
        }
        catch (InputRejectedException refused) when (batch.Count > 1)
        {
            // The engine refuses the batch for one (or more) of its texts, e.g. SGLang's 400 for a whitespace-only text:
            // embed each alone, so only the requests that own a refused text fail.
            _logger.LogWarning("Engine refused a batch of {Count} ({Reason}); embedding its texts one by one", batch.Count, refused.Reason);
            foreach (var pending in batch) await RunAloneAsync(pending);
        }
        catch (Exception ex)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            _logger.LogWarning(ex, "Backend failed on a batch of {Count} texts ({Tokens} tokens)", batch.Count, tokens);
            var error = AsBackendError(ex);
            foreach (var p in batch) p.Result.TrySetException(error);
        }
        finally
        {
            Interlocked.Add(ref _onBackend, -batch.Count);
            Interlocked.Decrement(ref _running);
            _slots.Release();
        }
    }

    private async Task RunAloneAsync(Pending pending)
    {
        try
        {
            var vectors = await _backend.EmbedAsync([pending.Text], CancellationToken.None);
            if (BackendAnswer.Problem(vectors, 1, _backend.Dimensions) is { } problem) throw new BackendException(problem);
            pending.Result.TrySetResult(vectors[0]);
        }
        catch (Exception ex)
        {
            pending.Result.TrySetException(AsBackendError(ex));
        }
    }

    /// <summary>A refusal stays one (its request gets a 400); any other failure is a retryable backend error.</summary>
    private static Exception AsBackendError(Exception ex) =>
        ex is BackendException or InputRejectedException ? ex : new BackendException($"Backend failed: {ex.Message}", ex);

    private sealed record Pending(TokenizedText Text, CancellationToken CancellationToken, long EnqueuedAt, ActivityContext Parent, bool Background)
    {
        public TaskCompletionSource<float[]> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The batch that computed (or failed) this text; set before <see cref="Result"/> completes.</summary>
        public string? BatchId { get; set; }
    }
}
