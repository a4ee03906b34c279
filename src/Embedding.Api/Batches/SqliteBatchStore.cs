using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Embedding.Api.Batches;

/// <summary>
/// The embedded store: a SQLite database (<c>batches.db</c>) beside the files, under <see cref="BatchOptions.StoragePath"/>.
/// The default for one API process (or several on one machine sharing the directory); replicas on several machines use
/// <see cref="PostgresBatchStore"/>. A job is kept as its JSON document (written only by its lease holder) plus a
/// cancel-request column (written only by the cancel endpoint), so a cancel never races a progress checkpoint. SQLite
/// takes one writer at a time, which is what makes a claim atomic here.
/// </summary>
public sealed class SqliteBatchStore : IBatchStore
{
    private readonly string _connectionString;
    private readonly string _journalMode;
    private readonly Lazy<Task> _created;

    public SqliteBatchStore(IOptions<EmbeddingApiOptions> options)
    {
        Directory = new BatchStorageDirectory(options.Value.Batches.ResolvedStoragePath);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = Path.Combine(Directory.Root, "batches.db"), Pooling = true }.ToString();
        _journalMode = options.Value.Batches.JournalMode;
        _created = new Lazy<Task>(CreateAsync);
    }

    public BatchStorageDirectory Directory { get; }

    public string PathOf(string fileId) => Directory.PathOf(fileId);

    /// <summary>Busy past the command timeout: another process holds the write lock.</summary>
    public bool IsUnavailable(Exception exception) => exception is SqliteException { SqliteErrorCode: 5 or 6 };

    private async Task CreateAsync()
    {
        Directory.Create();
        await using var db = new SqliteConnection(_connectionString);
        await db.OpenAsync();
        // The mode is one of the option's allowed values (validated at start), never user input.
        await ExecuteAsync(db, $"PRAGMA journal_mode={_journalMode};");
        await ExecuteAsync(db, """
            CREATE TABLE IF NOT EXISTS files(
                id TEXT PRIMARY KEY, owner TEXT NOT NULL, purpose TEXT NOT NULL, filename TEXT NOT NULL,
                bytes INTEGER NOT NULL, created_at INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS batches(
                id TEXT PRIMARY KEY, owner TEXT NOT NULL, created_at INTEGER NOT NULL, open INTEGER NOT NULL,
                data TEXT NOT NULL, cancel_requested_at INTEGER NULL);
            CREATE INDEX IF NOT EXISTS batches_open ON batches(open, created_at);
            """);
        // Stores made before files could expire, or before jobs were leased, get the columns (one writer at a time: the
        // check and the change cannot interleave with another process's).
        await AddColumnAsync(db, "files", "expires_at", "INTEGER NULL");  // NULL: kept until deleted
        await AddColumnAsync(db, "batches", "lease_owner", "TEXT NULL");
        await AddColumnAsync(db, "batches", "lease_until", "INTEGER NULL");  // Unix milliseconds
        await AddColumnAsync(db, "batches", "lease", "INTEGER NOT NULL DEFAULT 0");
    }

    private static async Task AddColumnAsync(SqliteConnection db, string table, string column, string type)
    {
        await using var transaction = db.BeginTransaction();  // IMMEDIATE: the write lock first
        await using (var check = Command(db, $"SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = '{column}'"))
            if (Convert.ToInt64(await check.ExecuteScalarAsync()) == 0)
                await ExecuteAsync(db, $"ALTER TABLE {table} ADD COLUMN {column} {type}");
        await transaction.CommitAsync();
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken ct)
    {
        await _created.Value.WaitAsync(ct);
        var db = new SqliteConnection(_connectionString);
        await db.OpenAsync(ct);
        return db;
    }

    private static async Task<int> ExecuteAsync(SqliteConnection db, string sql, params (string Name, object? Value)[] args)
    {
        await using var command = Command(db, sql, args);
        return await command.ExecuteNonQueryAsync();
    }

    private static SqliteCommand Command(SqliteConnection db, string sql, params (string Name, object? Value)[] args)
    {
        var command = db.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in args) command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    // ---- files ----

    public async Task<StoredFile> AddFileAsync(string owner, string purpose, string filename, string tempPath, CancellationToken ct, string? id = null, int? expiresAfterSeconds = null)
    {
        await _created.Value.WaitAsync(ct);
        id ??= $"file-{Guid.NewGuid():N}";
        var now = IBatchStore.Now();
        var file = new StoredFile(id, owner, purpose, filename, Directory.Keep(tempPath, id), now, now + expiresAfterSeconds);
        await using var db = await OpenAsync(ct);
        await ExecuteAsync(db, "INSERT OR IGNORE INTO files(id, owner, purpose, filename, bytes, created_at, expires_at) VALUES (@id, @owner, @purpose, @filename, @bytes, @created, @expires)",
            ("@id", file.Id), ("@owner", file.Owner), ("@purpose", file.Purpose), ("@filename", file.Filename), ("@bytes", file.Bytes), ("@created", file.CreatedAt), ("@expires", file.ExpiresAt));
        return file;
    }

    public async Task<string> NewTempPathAsync(CancellationToken ct)
    {
        await _created.Value.WaitAsync(ct);
        return Directory.NewTempPath();
    }

    public async Task<StoredFile?> GetFileAsync(string id, string owner, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await using var command = Command(db, "SELECT id, owner, purpose, filename, bytes, created_at, expires_at FROM files WHERE id = @id AND owner = @owner", ("@id", id), ("@owner", owner));
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? ReadFile(reader) : null;
    }

    public async Task<List<StoredFile>> ListFilesAsync(string owner, string? purpose, string? after, int limit, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await using var command = Command(db, """
            SELECT id, owner, purpose, filename, bytes, created_at, expires_at FROM files
            WHERE owner = @owner AND (@purpose IS NULL OR purpose = @purpose)
              AND (@after IS NULL OR rowid < (SELECT rowid FROM files WHERE id = @after))
            ORDER BY rowid DESC LIMIT @limit
            """, ("@owner", owner), ("@purpose", purpose), ("@after", after), ("@limit", limit));
        await using var reader = await command.ExecuteReaderAsync(ct);
        var files = new List<StoredFile>();
        while (await reader.ReadAsync(ct)) files.Add(ReadFile(reader));
        return files;
    }

    public async Task<bool> DeleteFileAsync(string id, string owner, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        if (await ExecuteAsync(db, "DELETE FROM files WHERE id = @id AND owner = @owner", ("@id", id), ("@owner", owner)) == 0) return false;
        File.Delete(PathOf(id));
        return true;
    }

    public async Task<int> DeleteExpiredFilesAsync(long now, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        var expired = new List<string>();
        // One statement: the rows go and say which they were; then their bytes.
        await using (var command = Command(db, """
            DELETE FROM files WHERE expires_at IS NOT NULL AND expires_at <= @now
              AND id NOT IN (SELECT json_extract(data, '$.inputFileId') FROM batches WHERE open = 1)
            RETURNING id
            """, ("@now", now)))
        await using (var reader = await command.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct)) expired.Add(reader.GetString(0));
        foreach (var id in expired) File.Delete(PathOf(id));
        return expired.Count;
    }

    private static StoredFile ReadFile(SqliteDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4), r.GetInt64(5), r.IsDBNull(6) ? null : r.GetInt64(6));

    // ---- batches ----

    public async Task CreateBatchAsync(BatchJob job, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await ExecuteAsync(db, "INSERT INTO batches(id, owner, created_at, open, data) VALUES (@id, @owner, @created, 1, @data)",
            ("@id", job.Id), ("@owner", job.Owner), ("@created", job.CreatedAt), ("@data", job.ToStoreJson()));
    }

    public async Task SaveAsync(BatchJob job, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        if (await ExecuteAsync(db, "UPDATE batches SET data = @data, open = @open WHERE id = @id AND lease = @lease",
                ("@id", job.Id), ("@data", job.ToStoreJson()), ("@open", BatchStatus.IsOpen(job.Status) ? 1 : 0), ("@lease", job.Lease)) == 0)
            throw new BatchLeaseLostException(job.Id, job.Lease);
    }

    public async Task<BatchJob?> GetBatchAsync(string id, string? owner, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await using var command = Command(db, "SELECT data, cancel_requested_at, lease FROM batches WHERE id = @id AND (@owner IS NULL OR owner = @owner)",
            ("@id", id), ("@owner", owner));
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? ReadBatch(reader) : null;
    }

    public async Task<List<BatchJob>> ListBatchesAsync(string owner, string? after, int limit, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await using var command = Command(db, """
            SELECT data, cancel_requested_at, lease FROM batches
            WHERE owner = @owner AND (@after IS NULL OR rowid < (SELECT rowid FROM batches WHERE id = @after))
            ORDER BY rowid DESC LIMIT @limit
            """, ("@owner", owner), ("@after", after), ("@limit", limit));
        return await ReadBatchesAsync(command, ct);
    }

    public async Task<List<BatchJob>> ClaimAsync(string runner, IReadOnlyCollection<string> running, int limit, bool cancelRequestedOnly, TimeSpan lease, CancellationToken ct)
    {
        if (limit <= 0) return [];
        await using var db = await OpenAsync(ct);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await using var command = Command(db, """
            UPDATE batches SET lease_owner = @runner, lease_until = @until, lease = lease + 1
            WHERE id IN (
                SELECT id FROM batches
                WHERE open = 1 AND (@cancelOnly = 0 OR cancel_requested_at IS NOT NULL)
                  AND (lease_owner IS NULL OR lease_until < @now OR (lease_owner = @runner AND id NOT IN (SELECT value FROM json_each(@running))))
                ORDER BY created_at, rowid LIMIT @limit)
            RETURNING data, cancel_requested_at, lease
            """, ("@runner", runner), ("@until", now + (long)lease.TotalMilliseconds), ("@now", now), ("@cancelOnly", cancelRequestedOnly ? 1 : 0),
            ("@running", JsonSerializer.Serialize(running)), ("@limit", limit));
        var jobs = await ReadBatchesAsync(command, ct);
        return [.. jobs.OrderBy(j => j.CreatedAt)];  // RETURNING has no order of its own
    }

    public async Task<Dictionary<string, bool>> RenewAsync(string runner, IReadOnlyCollection<BatchJob> jobs, TimeSpan lease, CancellationToken ct)
    {
        var held = new Dictionary<string, bool>();
        if (jobs.Count == 0) return held;
        await using var db = await OpenAsync(ct);
        await using var command = Command(db, """
            UPDATE batches SET lease_until = @until
            WHERE lease_owner = @runner AND id IN (SELECT value FROM json_each(@ids))
            RETURNING id, cancel_requested_at IS NOT NULL
            """, ("@runner", runner), ("@until", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + (long)lease.TotalMilliseconds),
            ("@ids", JsonSerializer.Serialize(jobs.Select(j => j.Id))));
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) held[reader.GetString(0)] = reader.GetInt64(1) == 1;
        return held;
    }

    public async Task ReleaseAsync(BatchJob job, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await ExecuteAsync(db, "UPDATE batches SET lease_owner = NULL, lease_until = NULL WHERE id = @id AND lease = @lease", ("@id", job.Id), ("@lease", job.Lease));
    }

    public async Task RequestCancelAsync(string id, string owner, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await ExecuteAsync(db, "UPDATE batches SET cancel_requested_at = @now WHERE id = @id AND owner = @owner AND open = 1 AND cancel_requested_at IS NULL",
            ("@id", id), ("@owner", owner), ("@now", IBatchStore.Now()));
    }

    public async Task<bool> CancelRequestedAsync(string id, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await using var command = Command(db, "SELECT cancel_requested_at IS NOT NULL FROM batches WHERE id = @id", ("@id", id));
        return await command.ExecuteScalarAsync(ct) is long requested && requested == 1;
    }

    private static async Task<List<BatchJob>> ReadBatchesAsync(SqliteCommand command, CancellationToken ct)
    {
        await using var reader = await command.ExecuteReaderAsync(ct);
        var jobs = new List<BatchJob>();
        while (await reader.ReadAsync(ct)) jobs.Add(ReadBatch(reader));
        return jobs;
    }

    private static BatchJob ReadBatch(SqliteDataReader r) =>
        BatchJob.FromStore(r.GetString(0), r.IsDBNull(1) ? null : r.GetInt64(1), r.GetInt64(2));
}
