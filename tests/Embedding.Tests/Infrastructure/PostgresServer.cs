using System.Diagnostics;

namespace Embedding.Tests.Infrastructure;

/// <summary>
/// A PostgreSQL server of a test's own (the Debian <c>postgresql</c> binaries, a fresh cluster in a temporary directory,
/// 127.0.0.1 on a free port), for tests that stop and start it under a running service. Run with <c>pg_ctl</c>, which
/// stops exactly the postmaster it started (the PID in the cluster's postmaster.pid). PostgreSQL refuses to run as
/// root; as root it runs as the <c>postgres</c> user the package creates.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private readonly string _dir;
    private readonly string _bin;

    public int Port { get; }
    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres";
    private string Data => Path.Combine(_dir, "data");

    private PostgresServer(string dir, string bin, int port)
    {
        _dir = dir;
        _bin = bin;
        Port = port;
    }

    public static async Task<PostgresServer> StartAsync()
    {
        var bin = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(b => File.Exists(Path.Combine(b, "postgres")))
                .OrderBy(b => int.TryParse(Path.GetFileName(Path.GetDirectoryName(b)), out var v) ? v : 0).LastOrDefault()
            : null;
        if (bin is null) throw new InvalidOperationException("PostgreSQL is not installed: apt-get install postgresql (scripts/install-prerequisites.sh does).");
        var dir = Path.Combine(Path.GetTempPath(), "embedding-tests", "pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        var server = new PostgresServer(dir, bin, TestEnvironment.ClosedPort());
        if (Environment.UserName == "root") await RunAsync("chown", ["postgres", dir]);
        await server.PgAsync("initdb", ["-D", server.Data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-instructions"]);
        await server.StartAgainAsync();
        return server;
    }

    /// <summary>Starts the server (again), and returns once it accepts connections.</summary>
    public Task StartAgainAsync() =>
        PgAsync("pg_ctl", ["-D", Data, "-l", Path.Combine(_dir, "postgres.log"), "-w", "-t", "60",
            "-o", $"-c listen_addresses=127.0.0.1 -p {Port} -c unix_socket_directories={_dir}", "start"]);

    /// <summary>Stops the server the way an operator's restart does (fast shutdown: clients are disconnected).</summary>
    public Task StopAsync() => PgAsync("pg_ctl", ["-D", Data, "-m", "fast", "-w", "-t", "60", "stop"]);

    private Task PgAsync(string tool, string[] args) =>
        Environment.UserName == "root"
            ? RunAsync("runuser", ["-u", "postgres", "--", Path.Combine(_bin, tool), .. args])
            : RunAsync(Path.Combine(_bin, tool), args);

    private static async Task RunAsync(string file, string[] args)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(90));
        if (process.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {process.ExitCode}:\n{await output}\n{await error}");
    }

    public async ValueTask DisposeAsync()
    {
        try { await StopAsync(); } catch (InvalidOperationException) { }  // already stopped
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
