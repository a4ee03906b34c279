using Embedding.Api.Batches;
using Embedding.Tests.Infrastructure;
using Npgsql;

namespace Embedding.Tests;

/// <summary>
/// The leases both batch stores run jobs under, against the real databases (SQLite, PostgreSQL): concurrent claims hand
/// each job to one runner, a checkpoint of a lease that passed on is refused, an expired lease is taken over and its old
/// holder learns it, a freed lease is taken at once; and PostgreSQL replicas starting together migrate once.
/// </summary>
public sealed class BatchStoreTests
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    private static BatchJob Job(int i) => new()
    {
        Id = $"batch_{i:D4}", Owner = "k", Endpoint = "/v1/embeddings", InputFileId = "file-in", CompletionWindow = "24h", CreatedAt = 1000 + i, ExpiresAt = 1000 + 86_400,
    };

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Runners_claiming_at_once_each_get_other_jobs_and_every_job_goes_to_one(string kind)
    {
        await using var stores = await TestBatchStores.CreateAsync(kind);
        for (var i = 0; i < 40; i++) await stores.Store.CreateBatchAsync(Job(i), default);
        var replicas = Enumerable.Range(0, 4).Select(_ => stores.Another()).ToArray();

        // Each of 4 runners claims 3 at a time until nothing is left, all at once.
        var claims = await Task.WhenAll(replicas.Select((store, r) => Task.Run(async () =>
        {
            var mine = new List<string>();
            while (await store.ClaimAsync($"runner-{r}", mine, 3, cancelRequestedOnly: false, Long, default) is { Count: > 0 } claimed)
                mine.AddRange(claimed.Select(j => j.Id));
            return mine;
        })));

        var all = claims.SelectMany(c => c).ToList();
        Assert.Equal(40, all.Count);
        Assert.Equal(40, all.Distinct().Count());
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task An_expired_lease_passes_to_another_runner_and_the_old_holder_can_no_longer_write(string kind)
    {
        await using var stores = await TestBatchStores.CreateAsync(kind);
        var (a, b) = (stores.Store, stores.Another());
        await a.CreateBatchAsync(Job(1), default);
        var held = Assert.Single(await a.ClaimAsync("a", [], 10, false, TimeSpan.FromSeconds(2), default));
        Assert.Empty(await b.ClaimAsync("b", [], 10, false, Long, default));  // held
        held.MoveTo(BatchStatus.InProgress, 1001);
        held.Completed = 5;
        await a.SaveAsync(held, default);

        // a stops renewing (it died, or could not reach the database): once the lease runs out, b takes the job at a's checkpoint.
        BatchJob? taken = null;
        await TestEnvironment.WaitUntilAsync(async () => (taken = (await b.ClaimAsync("b", [], 10, false, Long, default)).SingleOrDefault()) is not null,
            TimeSpan.FromSeconds(30));
        Assert.Equal((BatchStatus.InProgress, 5), (taken!.Status, taken.Completed));
        Assert.True(taken.Lease > held.Lease);

        held.Completed = 9;
        await Assert.ThrowsAsync<BatchLeaseLostException>(() => a.SaveAsync(held, default));
        Assert.Empty(await a.RenewAsync("a", [held], Long, default));  // a learns the job is no longer its own
        Assert.True((await b.RenewAsync("b", [taken], Long, default)).ContainsKey(taken.Id));
        Assert.Equal(5, (await b.GetBatchAsync(taken.Id, "k", default))!.Completed);
        taken.Completed = 6;
        await b.SaveAsync(taken, default);
        Assert.Equal(6, (await a.GetBatchAsync(taken.Id, "k", default))!.Completed);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task A_freed_lease_is_taken_at_once_and_a_runner_takes_back_its_own_job_it_no_longer_runs(string kind)
    {
        await using var stores = await TestBatchStores.CreateAsync(kind);
        var (a, b) = (stores.Store, stores.Another());
        await a.CreateBatchAsync(Job(1), default);
        var held = Assert.Single(await a.ClaimAsync("a", [], 10, false, Long, default));
        Assert.Empty(await a.ClaimAsync("a", [held.Id], 10, false, Long, default));        // running here: not claimed twice
        var again = Assert.Single(await a.ClaimAsync("a", [], 10, false, Long, default));  // stopped here (a database outage): taken back
        Assert.True(again.Lease > held.Lease);

        await a.ReleaseAsync(again, default);  // a clean stop
        Assert.Single(await b.ClaimAsync("b", [], 10, false, Long, default));
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task A_claim_for_cancels_takes_only_jobs_with_a_cancel_asked(string kind)
    {
        await using var stores = await TestBatchStores.CreateAsync(kind);
        var store = stores.Store;
        await store.CreateBatchAsync(Job(1), default);
        await store.CreateBatchAsync(Job(2), default);
        await store.RequestCancelAsync(Job(2).Id, "k", default);
        var cancelling = Assert.Single(await store.ClaimAsync("a", [], 10, cancelRequestedOnly: true, Long, default));
        Assert.Equal((Job(2).Id, BatchStatus.Cancelling), (cancelling.Id, cancelling.Status));
    }

    [Fact]
    public async Task Replicas_starting_together_on_an_empty_database_apply_each_migration_once()
    {
        await using var stores = await TestBatchStores.CreateAsync("postgres");
        var replicas = Enumerable.Range(0, 6).Select(_ => stores.Another()).ToArray();
        await Task.WhenAll(replicas.Select((store, i) => Task.Run(() => store.CreateBatchAsync(Job(i), default))));

        await using var db = await stores.Database.OpenAsync();
        await using var versions = new NpgsqlCommand("SELECT count(*), count(DISTINCT version) FROM batch_schema", db);
        await using var reader = await versions.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(reader.GetInt64(1), reader.GetInt64(0));
        Assert.True(reader.GetInt64(0) >= 1);
        await reader.CloseAsync();
        await using var jobs = new NpgsqlCommand("SELECT count(*) FROM batch_jobs", db);
        Assert.Equal(6L, await jobs.ExecuteScalarAsync());
    }
}
