using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Embedding.Api.Batches;

/// <summary>
/// Durable state of files and batch jobs: a SQLite database and a directory of files, both under
/// <see cref="BatchOptions.StoragePath"/>. A job is kept as its JSON document (written only by the runner) plus a
/// cancel-request column (written only by the cancel endpoint), so a cancel never races a progress checkpoint.
/// </summary>
public sealed class BatchStore
{
    private readonly string _root;
    private readonly string _connectionString;
    private readonly string _journalMode;
    private readonly Lazy<Task> _created;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public BatchStore(IOptions<EmbeddingApiOptions> options)
    {
        _root = Path.GetFullPath(options.Value.Batches.ResolvedStoragePath);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = Path.Combine(_root, "batches.db"), Pooling = true }.ToString();
        _journalMode = options.Value.Batches.JournalMode;
        _created = new Lazy<Task>(CreateAsync);
    }

    public string FilesDirectory => Path.Combine(_root, "files");
    public string WorkDirectory => Path.Combine(_root, "work");
    public string PathOf(string fileId) => Path.Combine(FilesDirectory, fileId);

    /// <summary>The file whose exclusive holder runs this directory's jobs (created with the store).</summary>
    public async Task<string> LockPathAsync(CancellationToken ct)
    {
        await _created.Value.WaitAsync(ct);
        return Path.Combine(_root, "runner.lock");
    }

    private async Task CreateAsync()
    {
        Directory.CreateDirectory(FilesDirectory);
        Directory.CreateDirectory(WorkDirectory);
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
        // Stores created before files could expire get the column (NULL: kept until deleted).
        await using (var check = Command(db, "SELECT COUNT(*) FROM pragma_table_info('files') WHERE name = 'expires_at'"))
            if (Convert.ToInt64(await check.ExecuteScalarAsync()) == 0)
                await ExecuteAsync(db, "ALTER TABLE files ADD COLUMN expires_at INTEGER NULL");
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

    /// <summary>
    /// Keeps a file whose bytes were written to <paramref name="tempPath"/> (moved into the store). Given an id, it can be
    /// repeated after a crash: a file already kept under that id stays as it is.
    /// </summary>
    public async Task<StoredFile> AddFileAsync(string owner, string purpose, string filename, string tempPath, CancellationToken ct, string? id = null, int? expiresAfterSeconds = null)
    {
        await _created.Value.WaitAsync(ct);
        id ??= $"file-{Guid.NewGuid():N}";
        if (File.Exists(tempPath)) File.Move(tempPath, PathOf(id), overwrite: true);
        var now = Now();
        var file = new StoredFile(id, owner, purpose, filename, new FileInfo(PathOf(id)).Length, now, now + expiresAfterSeconds);
        await using var db = await OpenAsync(ct);
        await ExecuteAsync(db, "INSERT OR IGNORE INTO files(id, owner, purpose, filename, bytes, created_at, expires_at) VALUES (@id, @owner, @purpose, @filename, @bytes, @created, @expires)",
            ("@id", file.Id), ("@owner", file.Owner), ("@purpose", file.Purpose), ("@filename", file.Filename), ("@bytes", file.Bytes), ("@created", file.CreatedAt), ("@expires", file.ExpiresAt));
        return file;
    }

    /// <summary>A temporary path inside the store (same file system, so keeping the file is a rename).</summary>
    public async Task<string> NewTempPathAsync(CancellationToken ct)
    {
        await _created.Value.WaitAsync(ct);
        return Path.Combine(WorkDirectory, $"upload-{Guid.NewGuid():N}.tmp");
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

    /// <summary>
    /// Deletes files whose time has come (<c>expires_at</c>), except the input file of a job still running. Returns how
    /// many went. The runner calls it now and then.
    /// </summary>
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
            ("@id", job.Id), ("@owner", job.Owner), ("@created", job.CreatedAt), ("@data", JsonSerializer.Serialize(job, Json)));
    }

    /// <summary>The runner's checkpoint: the whole job document (status, counts, offsets) in one write.</summary>
    public async Task SaveAsync(BatchJob job, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await ExecuteAsync(db, "UPDATE batches SET data = @data, open = @open WHERE id = @id",
            ("@id", job.Id), ("@data", JsonSerializer.Serialize(job, Json)), ("@open", BatchStatus.IsOpen(job.Status) ? 1 : 0));
    }

    /// <summary>A job as its owner sees it: a cancel asked for but not yet acted on shows as "cancelling".</summary>
    public async Task<BatchJob?> GetBatchAsync(string id, string? owner, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await using var command = Command(db, "SELECT data, cancel_requested_at FROM batches WHERE id = @id AND (@owner IS NULL OR owner = @owner)",
            ("@id", id), ("@owner", owner));
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? ReadBatch(reader) : null;
    }

    public async Task<List<BatchJob>> ListBatchesAsync(string owner, string? after, int limit, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await using var command = Command(db, """
            SELECT data, cancel_requested_at FROM batches
            WHERE owner = @owner AND (@after IS NULL OR rowid < (SELECT rowid FROM batches WHERE id = @after))
            ORDER BY rowid DESC LIMIT @limit
            """, ("@owner", owner), ("@after", after), ("@limit", limit));
        return await ReadBatchesAsync(command, ct);
    }

    /// <summary>Jobs with work left, oldest first: what the runner picks up, also after a restart.</summary>
    public async Task<List<BatchJob>> OpenBatchesAsync(CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await using var command = Command(db, "SELECT data, cancel_requested_at FROM batches WHERE open = 1 ORDER BY created_at, rowid");
        return await ReadBatchesAsync(command, ct);
    }

    /// <summary>Marks an open job of this owner for cancelling; the runner does the rest.</summary>
    public async Task RequestCancelAsync(string id, string owner, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct);
        await ExecuteAsync(db, "UPDATE batches SET cancel_requested_at = @now WHERE id = @id AND owner = @owner AND open = 1 AND cancel_requested_at IS NULL",
            ("@id", id), ("@owner", owner), ("@now", Now()));
    }

    /// <summary>Whether a cancel was asked for this job (by any API process sharing the store).</summary>
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

    private static BatchJob ReadBatch(SqliteDataReader r)
    {
        var job = JsonSerializer.Deserialize<BatchJob>(r.GetString(0), Json)!;
        if (!r.IsDBNull(1) && BatchStatus.CanMove(job.Status, BatchStatus.Cancelling)) job.MoveTo(BatchStatus.Cancelling, r.GetInt64(1));
        return job;
    }

    public static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
}
