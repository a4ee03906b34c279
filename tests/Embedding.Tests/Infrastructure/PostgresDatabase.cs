using Npgsql;

namespace Embedding.Tests.Infrastructure;

/// <summary>
/// A database of its own on the test PostgreSQL server (<see cref="TestEnvironment.Postgres"/>), so tests running at
/// once never see each other's jobs; dropped when disposed.
/// </summary>
public sealed class PostgresDatabase : IAsyncDisposable
{
    private readonly string _server;

    public string Name { get; }
    public string ConnectionString { get; }

    private PostgresDatabase(string server, string name)
    {
        _server = server;
        Name = name;
        ConnectionString = new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString;
    }

    /// <summary>Creates the database (named after <paramref name="name"/>, if given: the same name reuses it).</summary>
    public static async Task<PostgresDatabase> CreateAsync(string? name = null, string? server = null)
    {
        server ??= TestEnvironment.Postgres;
        var database = new PostgresDatabase(server, ("et_" + (name ?? Guid.NewGuid().ToString("N"))).Replace('-', '_').ToLowerInvariant());
        await using var admin = await ConnectAsync(server);
        await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = @name", admin);
        exists.Parameters.AddWithValue("name", database.Name);
        if (await exists.ExecuteScalarAsync() is null)
        {
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{database.Name}\"", admin);
            try { await create.ExecuteNonQueryAsync(); }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.DuplicateDatabase or PostgresErrorCodes.UniqueViolation) { }  // made by a twin stack meanwhile
        }
        return database;
    }

    /// <summary>A connection to the database itself, for a test's own look at the tables.</summary>
    public async Task<NpgsqlConnection> OpenAsync()
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(ConnectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    private static async Task<NpgsqlConnection> ConnectAsync(string server)
    {
        // Unpooled: a test may restart the server, which breaks pooled connections.
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(server) { Pooling = false }.ConnectionString);
        try
        {
            await connection.OpenAsync();
            return connection;
        }
        catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException)
        {
            await connection.DisposeAsync();
            throw new InvalidOperationException(
                $"No PostgreSQL server answers at '{server}'. Start the test servers with `eval \"$(bash scripts/test-servers.sh)\"` " +
                "(it installs nothing: apt-get install postgresql first) so that EMBEDDING_TEST_POSTGRES names one.", e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await using var admin = await ConnectAsync(_server);
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
        }
        catch (InvalidOperationException) { }  // the server went away (a test that stops it); nothing left to drop
    }
}
