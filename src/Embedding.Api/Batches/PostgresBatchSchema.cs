using Npgsql;

namespace Embedding.Api.Batches;

/// <summary>
/// The tables of <see cref="PostgresBatchStore"/>, as numbered migrations the service applies itself at start. Replicas
/// starting together take turns on a transaction-level advisory lock, so each migration runs once; one already recorded
/// in <c>batch_schema</c> is skipped, and a migration commits with its record or not at all.
/// </summary>
public static class PostgresBatchSchema
{
    /// <summary>The advisory lock key (any 64-bit number no other part of the database uses): "embbatch" in ASCII.</summary>
    private const long LockKey = 0x656d_6262_6174_6368;

    private static readonly string[] Migrations =
    [
        // 1: files and jobs. seq orders listings (newest first) and claims (oldest first); lease_until is the database's
        // clock, so replicas' clocks need not agree.
        """
        CREATE TABLE batch_files(
            seq bigint GENERATED ALWAYS AS IDENTITY, id text PRIMARY KEY, owner text NOT NULL, purpose text NOT NULL,
            filename text NOT NULL, bytes bigint NOT NULL, created_at bigint NOT NULL, expires_at bigint NULL);
        CREATE INDEX batch_files_owner ON batch_files(owner, seq);
        CREATE INDEX batch_files_expiring ON batch_files(expires_at) WHERE expires_at IS NOT NULL;
        CREATE TABLE batch_jobs(
            seq bigint GENERATED ALWAYS AS IDENTITY, id text PRIMARY KEY, owner text NOT NULL, created_at bigint NOT NULL,
            open boolean NOT NULL, data jsonb NOT NULL, cancel_requested_at bigint NULL,
            lease_owner text NULL, lease_until timestamptz NULL, lease bigint NOT NULL DEFAULT 0);
        CREATE INDEX batch_jobs_owner ON batch_jobs(owner, seq);
        CREATE INDEX batch_jobs_open ON batch_jobs(created_at, seq) WHERE open;
        """,
    ];

    /// <summary>Brings the database to the newest schema; safe to run from any number of replicas at once.</summary>
    public static async Task MigrateAsync(NpgsqlDataSource source, ILogger logger, CancellationToken ct)
    {
        await using var db = await source.OpenConnectionAsync(ct);
        await using var transaction = await db.BeginTransactionAsync(ct);
        await using (var command = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@key); CREATE TABLE IF NOT EXISTS batch_schema(version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());", db, transaction))
        {
            command.Parameters.AddWithValue("key", LockKey);
            await command.ExecuteNonQueryAsync(ct);
        }
        int current;
        await using (var command = new NpgsqlCommand("SELECT coalesce(max(version), 0) FROM batch_schema", db, transaction))
            current = Convert.ToInt32(await command.ExecuteScalarAsync(ct));
        for (var version = current + 1; version <= Migrations.Length; version++)
        {
            await using var command = new NpgsqlCommand($"{Migrations[version - 1]}; INSERT INTO batch_schema(version) VALUES ({version});", db, transaction);
            await command.ExecuteNonQueryAsync(ct);
            logger.LogInformation("Batch store: applied PostgreSQL migration {Version}", version);
        }
        await transaction.CommitAsync(ct);
    }
}
