using Embedding.Api;
using Embedding.Api.Batches;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Embedding.Tests.Infrastructure;

/// <summary>
/// Batch stores for store-level tests: "sqlite" (a database file in a fresh directory) or "postgres" (a fresh database on
/// the test server), any number of them over the same data (as replicas would be), cleaned up when disposed.
/// </summary>
public sealed class TestBatchStores : IAsyncDisposable
{
    private readonly string _kind;
    private readonly string _dir;
    private readonly PostgresDatabase? _database;
    private readonly List<NpgsqlDataSource> _sources = [];

    public IBatchStore Store { get; }

    private TestBatchStores(string kind, string dir, PostgresDatabase? database)
    {
        _kind = kind;
        _dir = dir;
        _database = database;
        Store = Another();
    }

    public static async Task<TestBatchStores> CreateAsync(string kind) =>
        new(kind, Path.Combine(Path.GetTempPath(), "embedding-tests", $"store-{Guid.NewGuid():N}"), kind == "postgres" ? await PostgresDatabase.CreateAsync() : null);

    public PostgresDatabase Database => _database ?? throw new InvalidOperationException("not a PostgreSQL store");

    /// <summary>Another store over the same database and directory, as another API process would open it.</summary>
    public IBatchStore Another()
    {
        var options = Options.Create(new EmbeddingApiOptions { Batches = new() { StoragePath = _dir } });
        if (_kind == "sqlite") return new SqliteBatchStore(options);
        var source = NpgsqlDataSource.Create(_database!.ConnectionString);
        _sources.Add(source);
        return new PostgresBatchStore(source, options, NullLogger<PostgresBatchStore>.Instance);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var source in _sources) await source.DisposeAsync();
        if (_database is not null) await _database.DisposeAsync();
        SqliteConnection.ClearAllPools();
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }
}
