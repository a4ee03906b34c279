using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using Embedding.Worker;
using Embedding.Worker.Backends;
using Embedding.Worker.Batching;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Embedding.Tests;

public sealed class TokenBudgetBatcherTests
{
    /// <summary>Records the batches it is given; answers after an optional gate.</summary>
    private sealed class RecordingBackend(bool pads) : IEmbeddingBackend
    {
        public List<int[]> Batches { get; } = [];
        public TaskCompletionSource Gate { get; set; } = CompletedGate();
        /// <summary>A text of this many tokens makes the batch it is in refused, as an engine's 4xx does.</summary>
        public int? Refuses { get; set; }
        public int Dimensions => 8;
        public string Numerics => "recording";
        public int MaxInputTokens => 10_000;
        public bool PadsBatches => pads;
        public TokenizedText Tokenize(string text, bool truncate, int maxTokens = int.MaxValue) => new(text, [], int.Parse(text));
        public async Task<float[][]> EmbedAsync(IReadOnlyList<TokenizedText> batch, CancellationToken ct)
        {
            lock (Batches) Batches.Add(batch.Select(b => b.TokenCount).ToArray());
            await Gate.Task;
            if (batch.Any(b => b.TokenCount == Refuses)) throw new InputRejectedException("not this one");
            return batch.Select(b => FakeBackend.VectorFor(b.Text, 8)).ToArray();
        }
        private static TaskCompletionSource CompletedGate() { var t = new TaskCompletionSource(); t.SetResult(); return t; }
    }

    private static async Task<(TokenBudgetBatcher, RecordingBackend)> StartAsync(bool pads, int budget, int maxSize = 64, int waitMs = 50,
                                                                                 double maxPaddingShare = 1.0)
    {
        var backend = new RecordingBackend(pads);
        var options = Options.Create(new WorkerOptions
        {
            MaxBatchTokens = budget, MaxBatchSize = maxSize, MaxWaitMilliseconds = waitMs, MaxPaddingShare = maxPaddingShare,
        });
        var metrics = new WorkerMetrics(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), options);
        var batcher = new TokenBudgetBatcher(backend, options, metrics, NullLogger<TokenBudgetBatcher>.Instance);
        await batcher.StartAsync(CancellationToken.None);
        return (batcher, backend);
    }

    private static TokenizedText T(int tokens) => new(tokens.ToString(), [], tokens);

    private static int Running(RecordingBackend backend) { lock (backend.Batches) return backend.Batches.Count; }

    [Fact]
    public async Task An_idle_worker_runs_a_lone_request_at_once_without_waiting_for_the_batch_window()
    {
        // The batch window is an hour: a lone request that waited for it (or for company) would never reach the backend in
        // the minute this test gives it. It must be on the backend, alone, while the test still holds the next text back.
        var (batcher, backend) = await StartAsync(pads: false, budget: 100, waitMs: 3_600_000);
        backend.Gate = new TaskCompletionSource();

        var lone = batcher.EmbedAsync([T(5)], CancellationToken.None);
        await TestEnvironment.WaitUntilAsync(() => Running(backend) == 1, TimeSpan.FromSeconds(60));
        Assert.Equal(1, batcher.Running);
        var next = batcher.EmbedAsync([T(6)], CancellationToken.None);  // arrives after the lone one left: not in its batch
        backend.Gate.SetResult();
        await Task.WhenAll(lone, next);

        Assert.Equal([[5], [6]], backend.Batches);
        await batcher.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_batch_the_engine_refuses_is_embedded_text_by_text_and_only_the_refused_texts_caller_fails()
    {
        var (batcher, backend) = await StartAsync(pads: false, budget: 1000, waitMs: 0);
        backend.Refuses = 13;
        backend.Gate = new TaskCompletionSource();
        var first = batcher.EmbedAsync([T(1)], CancellationToken.None);
        await TestEnvironment.WaitUntilAsync(() => Running(backend) == 1, TimeSpan.FromSeconds(10));
        var good = batcher.EmbedAsync([T(2)], CancellationToken.None);
        var bad = batcher.EmbedAsync([T(3), T(13)], CancellationToken.None);
        await TestEnvironment.WaitUntilAsync(() => batcher.Waiting == 3, TimeSpan.FromSeconds(10));
        backend.Gate.SetResult();

        await first;
        Assert.Equal(FakeBackend.VectorFor("2", 8), (await good)[0]);
        var refused = await Assert.ThrowsAsync<InputRejectedException>(() => bad);
        Assert.Equal(1, refused.Index);  // the caller's second text
        Assert.Equal("not this one", refused.Reason);
        Assert.Equal([[1], [2, 3, 13], [2], [3], [13]], backend.Batches);
        await batcher.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task While_a_batch_runs_arriving_texts_fill_the_next_one()
    {
        var (batcher, backend) = await StartAsync(pads: false, budget: 1000, waitMs: 0);
        backend.Gate = new TaskCompletionSource();
        var first = batcher.EmbedAsync([T(1)], CancellationToken.None);
        await TestEnvironment.WaitUntilAsync(() => Running(backend) == 1, TimeSpan.FromSeconds(10));
        var later = Enumerable.Range(2, 5).Select(i => batcher.EmbedAsync([T(i)], CancellationToken.None)).ToList();  // five requests
        backend.Gate.SetResult();
        await Task.WhenAll([first, .. later]);

        Assert.Equal([[1], [2, 3, 4, 5, 6]], backend.Batches);  // one batch for all five, with no batch window at all
        await batcher.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Padded_budget_counts_longest_times_count()
    {
        var (batcher, backend) = await StartAsync(pads: true, budget: 100);
        backend.Gate = new TaskCompletionSource();
        var blocker = batcher.EmbedAsync([T(1)], CancellationToken.None);  // occupies the only slot
        await TestEnvironment.WaitUntilAsync(() => Running(backend) == 1, TimeSpan.FromSeconds(10));  // on the backend, holding the slot
        // 10 + 10 + 10 + 40: padded cost with the 40 is 4 x 40 = 160 > 100, so it starts the next batch.
        var work = batcher.EmbedAsync([T(10), T(10), T(10), T(40), T(20)], CancellationToken.None);
        backend.Gate.SetResult();
        await Task.WhenAll(blocker, work);

        Assert.Equal([[1], [10, 10, 10], [40, 20]], backend.Batches);
        await batcher.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Padded_batches_take_texts_of_similar_length_starting_from_the_oldest()
    {
        var (batcher, backend) = await StartAsync(pads: true, budget: 10_000, maxPaddingShare: 0.25);
        backend.Gate = new TaskCompletionSource();
        var blocker = batcher.EmbedAsync([T(1)], CancellationToken.None);  // occupies the only slot
        await TestEnvironment.WaitUntilAsync(() => Running(backend) == 1, TimeSpan.FromSeconds(10));
        // Together: 5 x 100 padded for 228 real tokens (54 % padding). Grouped: 3 x 12 for 33, then 2 x 100 for 195.
        var work = batcher.EmbedAsync([T(10), T(100), T(12), T(95), T(11)], CancellationToken.None);
        backend.Gate.SetResult();
        var vectors = await work;
        await blocker;

        Assert.Equal([[1], [10, 12, 11], [100, 95]], backend.Batches);  // the oldest text's group first, arrival order within
        Assert.Equal(FakeBackend.VectorFor("95", 8), vectors[3]);  // answers still go to their own caller's slot
        await batcher.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Padding_share_of_one_fills_in_arrival_order()
    {
        var (batcher, backend) = await StartAsync(pads: true, budget: 10_000, maxPaddingShare: 1.0);
        backend.Gate = new TaskCompletionSource();
        var blocker = batcher.EmbedAsync([T(1)], CancellationToken.None);
        await TestEnvironment.WaitUntilAsync(() => Running(backend) == 1, TimeSpan.FromSeconds(10));
        var work = batcher.EmbedAsync([T(10), T(100), T(12), T(95), T(11)], CancellationToken.None);
        backend.Gate.SetResult();
        await Task.WhenAll(blocker, work);

        Assert.Equal([[1], [10, 100, 12, 95, 11]], backend.Batches);
        await batcher.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Unpadded_budget_counts_real_tokens_and_max_size_caps_a_batch()
    {
        var (batcher, backend) = await StartAsync(pads: false, budget: 100, maxSize: 3);
        backend.Gate = new TaskCompletionSource();
        var blocker = batcher.EmbedAsync([T(1)], CancellationToken.None);
        await TestEnvironment.WaitUntilAsync(() => Running(backend) == 1, TimeSpan.FromSeconds(10));  // on the backend, holding the slot
        var work = batcher.EmbedAsync([T(30), T(30), T(30), T(5), T(60), T(50)], CancellationToken.None);
        backend.Gate.SetResult();
        var vectors = await work;
        await blocker;

        Assert.Equal([[1], [30, 30, 30], [5, 60], [50]], backend.Batches);
        Assert.Equal(FakeBackend.VectorFor("60", 8), vectors[4]);  // each caller gets its own vectors back
        await batcher.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Interactive_texts_go_before_batch_job_texts_and_never_share_their_batch()
    {
        var (batcher, backend) = await StartAsync(pads: false, budget: 100, maxSize: 3);
        backend.Gate = new TaskCompletionSource();
        var blocker = batcher.EmbedAsync([T(1)], CancellationToken.None);  // occupies the only slot
        await TestEnvironment.WaitUntilAsync(() => Running(backend) == 1, TimeSpan.FromSeconds(10));  // on the backend, holding the slot
        var job = batcher.EmbedAsync([T(11), T(12), T(13), T(14)], CancellationToken.None, EmbedPriority.Batch);
        var request = batcher.EmbedAsync([T(21), T(22)], CancellationToken.None);  // arrives after the job's texts
        backend.Gate.SetResult();
        await Task.WhenAll(blocker, job, request);

        Assert.Equal([[1], [21, 22], [11, 12, 13], [14]], backend.Batches);
        await batcher.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task An_input_over_the_budget_runs_alone()
    {
        var (batcher, backend) = await StartAsync(pads: true, budget: 50);
        await batcher.EmbedAsync([T(500)], CancellationToken.None);
        Assert.Equal([[500]], backend.Batches);
        await batcher.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Texts_whose_caller_went_away_are_never_computed()
    {
        var (batcher, backend) = await StartAsync(pads: false, budget: 1000);
        backend.Gate = new TaskCompletionSource();
        var blocker = batcher.EmbedAsync([T(1)], CancellationToken.None);
        await TestEnvironment.WaitUntilAsync(() => Running(backend) == 1, TimeSpan.FromSeconds(10));  // on the backend, holding the slot
        using var gone = new CancellationTokenSource();
        var abandoned = batcher.EmbedAsync([T(7), T(8)], gone.Token);
        gone.Cancel();
        var kept = batcher.EmbedAsync([T(9)], CancellationToken.None);
        backend.Gate.SetResult();
        await blocker;
        await kept;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        Assert.Equal([[1], [9]], backend.Batches);
        await batcher.StopAsync(CancellationToken.None);
    }
}
