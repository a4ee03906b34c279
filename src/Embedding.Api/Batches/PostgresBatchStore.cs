using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Embedding.Api.Batches;

/// <summary>
/// The store for any number of API replicas: jobs and file records in PostgreSQL (the tables of
/// <see cref="PostgresBatchSchema"/>, migrated at first use), file bytes in the shared <see cref="BatchStorageDirectory"/>.
/// Claims take rows with <c>FOR UPDATE SKIP LOCKED</c>, so replicas claiming at once each get other jobs, and lease
/// expiry is judged by the database's clock.
/// </summary>
public sealed class PostgresBatchStore : IBatchStore
{
    private readonly NpgsqlDataSource _source;
    private readonly ILogger<PostgresBatchStore> _logger;
    private readonly SemaphoreSlim _migrating = new(1, 1);
    private volatile bool _migrated;

    public PostgresBatchStore(NpgsqlDataSource source, IOptions<EmbeddingApiOptions> options, ILogger<PostgresBatchStore> logger)
    {
        _source = source;
        _logger = logger;
        Directory = new BatchStorageDirectory(options.Value.Batches.ResolvedStoragePath);
    }

    public BatchStorageDirectory Directory { get; }

    public string PathOf(string fileId) => Directory.PathOf(fileId);

    /// <summary>The server out of reach, restarting or failing over (Npgsql's transient errors, and the server's own "shutting down" / "starting up").</summary>
    public bool IsUnavailable(Exception exception) =>
        exception is NpgsqlException { IsTransient: true } or PostgresException { SqlState: PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow }
        || (exception is NpgsqlException && exception.InnerException is IOException or System.Net.Sockets.SocketException or TimeoutException);

    /// <summary>A connection to a migrated database; the migration is retried on the next call if it failed (the server was down).</summary>
    private async Task<NpgsqlConnection> OpenAsync(CancellationToken ct)
    {
        if (!_migrated)
        {
            await _migrating.WaitAsync(ct);
            try
            {
                if (!_migrated)
                {
                    Directory.Create();
                    await PostgresBatchSchema.MigrateAsync(_source, _logger, ct);
                    _migrated = true;
                }
            }
            finally { _migrating.Release(); }
        }
        return await _source.OpenConnectionAsync(ct);
    }

    private static NpgsqlCommand Command(NpgsqlConnection db, string sql, params (string Name, object? Value)[] args)
    {
        var command = new NpgsqlCommand(sql, db);
        foreach (var (name, value) in args)
            command.Parameters.Add(value switch
            {
                // Typed where a NULL or an array could not tell the server its type.
                null => new NpgsqlParameter(name, NpgsqlDbType.Text) { Value = DBNull.Value },
                string[] array => new NpgsqlParameter(name, NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = array },
                _ => new NpgsqlParameter(name, value),
            });
        return command;
    }

    private async Task<int> ExecuteAsync(string sql, CancellationToken ct, params (string Name, object? Value)[] args)
    {
        await using var db = await OpenAsync(ct);
        await using var command = Command(db, sql, args);
        return await command.ExecuteNonQueryAsync(ct);
    }

    // ---- files ----

    public async Task<StoredFile> AddFileAsync(string owner, string purpose, string filename, string tempPath, CancellationToken ct, string? id = null, int? expiresAfterSeconds = null)
    {
        await using (await OpenAsync(ct)) { }  // the directories exist
        id ??= $"file-{Guid.NewGuid():N}";
        var now = IBatchStore.Now();
        var file = new StoredFile(id, owner, purpose, filename, Directory.Keep(tempPath, id), now, now + expiresAfterSeconds);
        await ExecuteAsync("""
            INSERT INTO batch_files(id, owner, purpose, filename, bytes, created_at, expires_at)
            VALUES (@id, @owner, @purpose, @filename, @bytes, @created, @expires::bigint) ON CONFLICT (id) DO NOTHING
            """, ct, ("id", file.Id), ("owner", file.Owner), ("purpose", file.Purpose), ("filename", file.Filename), ("bytes", file.Bytes),
            ("created", file.CreatedAt), ("expires", file.ExpiresAt));
        return file;
    }

    public async Task<string> NewTempPathAsync(CancellationToken ct)
    {
        await using (await OpenAsync(ct)) { }
        return Directory.NewTempPath();
    }

    public async Task<StoredFile?> GetFileAsync(string id, string owner, CancellationToken ct)
    {
        var files = await ReadFilesAsync("SELECT id, owner, purpose, filename, bytes, created_at, expires_at FROM batch_files WHERE id = @id AND owner = @owner",
            ct, ("id", id), ("owner", owner));
        return files.FirstOrDefault();
    }

    public Task<List<StoredFile>> ListFilesAsync(string owner, string? purpose, string? after, int limit, CancellationToken ct) =>
        ReadFilesAsync("""
            SELECT id, owner, purpose, filename, bytes, created_at, expires_at FROM batch_files
            WHERE owner = @owner AND (@purpose IS NULL OR purpose = @purpose)
              AND (@after IS NULL OR seq < (SELECT seq FROM batch_files WHERE id = @after))
            ORDER BY seq DESC LIMIT @limit
            """, ct, ("owner", owner), ("purpose", purpose), ("after", after), ("limit", limit));

    public async Task<bool> DeleteFileAsync(string id, string owner, CancellationToken ct)
    {
        if (await ExecuteAsync("DELETE FROM batch_files WHERE id = @id AND owner = @owner", ct, ("id", id), ("owner", owner)) == 0) return false;
        File.Delete(PathOf(id));
        return true;
    }

    public async Task<int> DeleteExpiredFilesAsync(long now, CancellationToken ct)
    {
        var expired = new List<string>();
        await using (var db = await OpenAsync(ct))
        await using (var command = Command(db, """
            DELETE FROM batch_files WHERE expires_at <= @now
              AND id NOT IN (SELECT data->>'inputFileId' FROM batch_jobs WHERE open)
            RETURNING id
            """, ("now", now)))
        await using (var reader = await command.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct)) expired.Add(reader.GetString(0));
        foreach (var id in expired) File.Delete(PathOf(id));
        return expired.Count;
    }

    private async Task<List<StoredFile>> ReadFilesAsync(string sql, CancellationToken ct, params (string Name, object? Value)[] args)
    {
        await using var db = await OpenAsync(ct);
        await using var command = Command(db, sql, args);
        await using var reader = await command.ExecuteReaderAsync(ct);
        var files = new List<StoredFile>();
        while (await reader.ReadAsync(ct))
            files.Add(new(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt64(4), reader.GetInt64(5),
                          reader.IsDBNull(6) ? null : reader.GetInt64(6)));
        return files;
    }

    // ---- batches ----

    public Task CreateBatchAsync(BatchJob job, CancellationToken ct) =>
        ExecuteAsync("INSERT INTO batch_jobs(id, owner, created_at, open, data) VALUES (@id, @owner, @created, true, @data::jsonb)",
            ct, ("id", job.Id), ("owner", job.Owner), ("created", job.CreatedAt), ("data", job.ToStoreJson()));

    public async Task SaveAsync(BatchJob job, CancellationToken ct)
    {
        if (await ExecuteAsync("UPDATE batch_jobs SET data = @data::jsonb, open = @open WHERE id = @id AND lease = @lease",
                ct, ("id", job.Id), ("data", job.ToStoreJson()), ("open", BatchStatus.IsOpen(job.Status)), ("lease", job.Lease)) == 0)
            throw new BatchLeaseLostException(job.Id, job.Lease);
    }

    public async Task<BatchJob?> GetBatchAsync(string id, string? owner, CancellationToken ct) =>
        (await ReadBatchesAsync("SELECT data::text, cancel_requested_at, lease FROM batch_jobs WHERE id = @id AND (@owner IS NULL OR owner = @owner)",
            ct, ("id", id), ("owner", owner))).FirstOrDefault();

    public Task<List<BatchJob>> ListBatchesAsync(string owner, string? after, int limit, CancellationToken ct) =>
        ReadBatchesAsync("""
            SELECT data::text, cancel_requested_at, lease FROM batch_jobs
            WHERE owner = @owner AND (@after IS NULL OR seq < (SELECT seq FROM batch_jobs WHERE id = @after))
            ORDER BY seq DESC LIMIT @limit
            """, ct, ("owner", owner), ("after", after), ("limit", limit));

    public async Task<List<BatchJob>> ClaimAsync(string runner, IReadOnlyCollection<string> running, int limit, bool cancelRequestedOnly, TimeSpan lease, CancellationToken ct)
    {
        if (limit <= 0) return [];
        var jobs = await ReadBatchesAsync("""
            UPDATE batch_jobs SET lease_owner = @runner, lease_until = now() + make_interval(secs => @lease), lease = lease + 1
            WHERE id IN (
                SELECT id FROM batch_jobs
                WHERE open AND (NOT @cancelOnly OR cancel_requested_at IS NOT NULL)
                  AND (lease_owner IS NULL OR lease_until < now() OR (lease_owner = @runner AND NOT id = ANY(@running)))
                ORDER BY created_at, seq LIMIT @limit
                FOR UPDATE SKIP LOCKED)
            RETURNING data::text, cancel_requested_at, lease
            """, ct, ("runner", runner), ("lease", lease.TotalSeconds), ("cancelOnly", cancelRequestedOnly), ("running", running.ToArray()), ("limit", limit));
        return [.. jobs.OrderBy(j => j.CreatedAt)];  // RETURNING has no order of its own
    }

    public async Task<Dictionary<string, bool>> RenewAsync(string runner, IReadOnlyCollection<BatchJob> jobs, TimeSpan lease, CancellationToken ct)
    {
        var held = new Dictionary<string, bool>();
        if (jobs.Count == 0) return held;
        await using var db = await OpenAsync(ct);
        await using var command = Command(db, """
            UPDATE batch_jobs SET lease_until = now() + make_interval(secs => @lease)
            WHERE lease_owner = @runner AND id = ANY(@ids)
            RETURNING id, cancel_requested_at IS NOT NULL
            """, ("runner", runner), ("lease", lease.TotalSeconds), ("ids", jobs.Select(j => j.Id).ToArray()));
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) held[reader.GetString(0)] = reader.GetBoolean(1);
        return held;
    }

    public Task ReleaseAsync(BatchJob job, CancellationToken ct) =>
        ExecuteAsync("UPDATE batch_jobs SET lease_owner = NULL, lease_until = NULL WHERE id = @id AND lease = @lease", ct, ("id", job.Id), ("lease", job.Lease));

    public Task RequestCancelAsync(string id, string owner, CancellationToken ct) =>
        ExecuteAsync("UPDATE batch_jobs SET cancel_requested_at = @now WHERE id = @id AND owner = @owner AND open AND cancel_requested_at IS NULL",
            ct, ("id", id), ("owner", owner), ("now", IBatchStore.Now()));

    public async Task<bool> CancelRequestedAsync(string id, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await using var command = Command(db, "SELECT cancel_requested_at IS NOT NULL FROM batch_jobs WHERE id = @id", ("id", id));
        return await command.ExecuteScalarAsync(ct) is true;
    }

    private async Task<List<BatchJob>> ReadBatchesAsync(string sql, CancellationToken ct, params (string Name, object? Value)[] args)
    {
        await using var db = await OpenAsync(ct);
        await using var command = Command(db, sql, args);
        await using var reader = await command.ExecuteReaderAsync(ct);
        var jobs = new List<BatchJob>();
        while (await reader.ReadAsync(ct))
            jobs.Add(BatchJob.FromStore(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetInt64(1), reader.GetInt64(2)));
        return jobs;
    }
}
