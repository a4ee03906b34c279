using Embedding.Api.Batches;
using Embedding.Tests.Infrastructure;

namespace Embedding.Tests;

/// <summary>
/// A batch job's life as one state machine (<see cref="BatchStatus"/>, applied by <see cref="BatchJob.MoveTo"/>), without
/// a broker: the moves OpenAI's Batch API defines are taken and stamped, every other move is refused, and the state
/// survives the store.
/// </summary>
public sealed class BatchJobLifecycleTests
{
    private static BatchJob NewJob() => new()
    {
        Id = "batch_test", Owner = "k", Endpoint = "/v1/embeddings", InputFileId = "file-in", CompletionWindow = "24h", CreatedAt = 100, ExpiresAt = 100 + 86_400,
    };

    /// <summary>Each path a job can take, as OpenAI documents the statuses.</summary>
    public static TheoryData<string[]> Paths => new()
    {
        new[] { BatchStatus.InProgress, BatchStatus.Finalizing, BatchStatus.Completed },
        new[] { BatchStatus.Failed },
        new[] { BatchStatus.InProgress, BatchStatus.Expired },
        new[] { BatchStatus.Cancelling, BatchStatus.Cancelled },
        new[] { BatchStatus.InProgress, BatchStatus.Cancelling, BatchStatus.Cancelled },
        new[] { BatchStatus.InProgress, BatchStatus.Finalizing, BatchStatus.Cancelling, BatchStatus.Cancelled },
        new[] { BatchStatus.InProgress, BatchStatus.Failed },
        new[] { BatchStatus.InProgress, BatchStatus.Finalizing, BatchStatus.Failed },
        new[] { BatchStatus.Cancelling, BatchStatus.Failed },
    };

    [Theory]
    [MemberData(nameof(Paths))]
    public void A_job_takes_each_documented_path_and_ends_in_a_final_state_stamped_with_its_time(string[] path)
    {
        var job = NewJob();
        Assert.Equal(BatchStatus.Validating, job.Status);
        long at = 1000;
        foreach (var status in path)
        {
            job.MoveTo(status, ++at);
            Assert.Equal(status, job.Status);
            Assert.Equal(at, StampOf(job, status));
        }
        Assert.False(BatchStatus.IsOpen(job.Status));
    }

    public static TheoryData<string[], string> Refused => new()
    {
        // Skipping a step, going back, or leaving a final state.
        { [], BatchStatus.Completed },
        { [], BatchStatus.Finalizing },
        { [], BatchStatus.Expired },
        { [], BatchStatus.Cancelled },
        { [BatchStatus.InProgress], BatchStatus.Validating },
        { [BatchStatus.InProgress], BatchStatus.Completed },
        { [BatchStatus.InProgress], BatchStatus.InProgress },
        { [BatchStatus.InProgress, BatchStatus.Finalizing], BatchStatus.Expired },
        { [BatchStatus.InProgress, BatchStatus.Finalizing], BatchStatus.InProgress },
        { [BatchStatus.Cancelling], BatchStatus.Completed },
        { [BatchStatus.Cancelling], BatchStatus.InProgress },
        { [BatchStatus.Cancelling], BatchStatus.Cancelling },
        { [BatchStatus.InProgress, BatchStatus.Finalizing, BatchStatus.Completed], BatchStatus.Failed },
        { [BatchStatus.InProgress, BatchStatus.Finalizing, BatchStatus.Completed], BatchStatus.Cancelling },
        { [BatchStatus.Failed], BatchStatus.InProgress },
        { [BatchStatus.InProgress, BatchStatus.Expired], BatchStatus.Completed },
        { [BatchStatus.Cancelling, BatchStatus.Cancelled], BatchStatus.Cancelling },
        { [], "paused" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void Any_other_move_is_refused_and_leaves_the_job_as_it_was(string[] before, string to)
    {
        var job = NewJob();
        foreach (var status in before) job.MoveTo(status, 1000);
        var status0 = job.Status;
        var stamp0 = StampOf(job, to);

        var refused = Assert.Throws<InvalidOperationException>(() => job.MoveTo(to, 2000));

        Assert.Contains($"from {status0} to {to}", refused.Message);
        Assert.Equal(status0, job.Status);
        Assert.Equal(stamp0, StampOf(job, to));
        Assert.False(BatchStatus.CanMove(status0, to));
    }

    [Fact]
    public void Open_states_are_those_with_a_way_out()
    {
        Assert.Equal(new[] { "cancelling", "finalizing", "in_progress", "validating" }, BatchStatus.Open.Order());
        foreach (var final in new[] { BatchStatus.Completed, BatchStatus.Failed, BatchStatus.Expired, BatchStatus.Cancelled })
            Assert.False(BatchStatus.IsOpen(final));
    }

    [Fact]
    public void A_cancel_keeps_the_time_it_was_asked_for_and_cancelled_fills_it_in_where_none_was()
    {
        var asked = NewJob();
        asked.MoveTo(BatchStatus.InProgress, 1000);
        asked.MoveTo(BatchStatus.Cancelling, 1005);
        asked.MoveTo(BatchStatus.Cancelled, 1009);
        Assert.Equal((1005L, 1009L), (asked.CancellingAt, asked.CancelledAt));
        Assert.Equal(1000, asked.InProgressAt);
        Assert.Null(asked.CompletedAt);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task The_store_keeps_the_state_and_shows_a_pending_cancel_as_cancelling_at_the_time_it_was_asked(string kind)
    {
        await using var stores = await TestBatchStores.CreateAsync(kind);
        var store = stores.Store;
        await store.CreateBatchAsync(NewJob(), default);
        var job = Assert.Single(await store.ClaimAsync("runner", [], 10, cancelRequestedOnly: false, TimeSpan.FromSeconds(30), default));
        job.MoveTo(BatchStatus.InProgress, 1234);
        await store.SaveAsync(job, default);

        var read = await store.GetBatchAsync(job.Id, "k", default);
        Assert.Equal((BatchStatus.InProgress, 1234L), (read!.Status, read.InProgressAt));

        var before = IBatchStore.Now();
        await store.RequestCancelAsync(job.Id, "k", default);
        var cancelling = await store.GetBatchAsync(job.Id, "k", default);
        Assert.Equal(BatchStatus.Cancelling, cancelling!.Status);
        Assert.InRange(cancelling.CancellingAt!.Value, before, IBatchStore.Now());

        cancelling.MoveTo(BatchStatus.Cancelled, IBatchStore.Now());
        await store.SaveAsync(cancelling, default);
        var cancelled = await store.GetBatchAsync(job.Id, "k", default);
        Assert.Equal(BatchStatus.Cancelled, cancelled!.Status);
        Assert.Equal(cancelling.CancellingAt, cancelled.CancellingAt);
        Assert.Empty(await store.ClaimAsync("another", [], 10, cancelRequestedOnly: false, TimeSpan.FromSeconds(30), default));  // nothing open
    }

    private static long? StampOf(BatchJob job, string status) => status switch
    {
        BatchStatus.InProgress => job.InProgressAt,
        BatchStatus.Finalizing => job.FinalizingAt,
        BatchStatus.Completed => job.CompletedAt,
        BatchStatus.Failed => job.FailedAt,
        BatchStatus.Expired => job.ExpiredAt,
        BatchStatus.Cancelling => job.CancellingAt,
        BatchStatus.Cancelled => job.CancelledAt,
        _ => null,
    };
}
